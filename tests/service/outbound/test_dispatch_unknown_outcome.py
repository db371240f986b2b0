"""An outcome nobody can establish stays unknown: never a final `failed`, never a resend."""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from smsrelay.service.outbound import dispatch, release
from smsrelay.simulator.ledger import SimulatorClient
from tests.harness import free_port

TO = "+14155550142"


def _send_callback(stack, message_id: str, sid: str, status: str) -> httpx.Response:
    query = f"/webhooks/twilio/status?messageId={message_id}"
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": stack.settings.twilio_account_sid, "To": TO, "From": "+15017122661",
              "ApiVersion": "2010-04-01"}
    # Signed for the public URL Twilio would call, delivered to where the API listens.
    sig = RequestValidator(stack.settings.twilio_auth_token).compute_signature(
        stack.settings.public_base_url + query, params)
    return httpx.post(stack.api_url + query, data=params, headers={"X-Twilio-Signature": sig})


def test_checks_fail_past_the_budget__held_unknown_not_failed_and_a_late_callback_applies(make_stack):
    stack = make_stack(start_worker=False, sim_overrides={"outage_hang_seconds": 0.1},
                       settings_overrides={"twilio_timeout_seconds": 2.0,
                                           "public_base_url": f"http://127.0.0.1:{free_port()}"})
    org = stack.create_org()
    run = lambda: stack.run(lambda rt: dispatch.send_message(rt, msg["id"]))  # noqa: E731
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("created_then_5xx")
        with stack.client(org["apiKey"]) as api:
            msg = api.post("/v1/messages", json={"to": TO, "body": "unknown"}).json()
        assert run() == "retry"
        [created] = sim.ledger(to=TO)
        # From now on every question to Twilio fails: the earlier attempt cannot be checked.
        sim.clear_scenarios()
        sim.set_scenario("outage")
        outcomes = [run() for _ in range(dispatch.TRANSIENT_RETRIES + 3)]
        sim.clear_scenarios()
        row = stack.message(msg["id"])
        assert "failed" not in outcomes and row["status"] == "queued", (outcomes, row["metadata"])
        assert row["metadata"]["outcome"] == "unknown"
        assert row["metadata"]["hold"]["reason"] == "unknown_outcome"
        assert outcomes[-1] == "held:unknown_outcome"
        # The release loop does not turn an unknown outcome back into sends or checks.
        assert stack.run(release.release_held) == 0
        assert len(sim.ledger(to=TO)) == 1, "never resent"

        assert _send_callback(stack, msg["id"], created["sid"], "delivered").status_code == 200
    row = stack.message(msg["id"])
    assert row["status"] == "delivered" and row["twilioSid"] == created["sid"]
    assert row["metadata"].get("outcome") is None and row["metadata"].get("hold") is None
