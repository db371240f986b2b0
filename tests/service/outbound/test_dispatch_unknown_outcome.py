"""An outcome nobody can establish stays unknown: never a final `failed`, never a resend."""

from __future__ import annotations

import time

import httpx
import pytest
from twilio.request_validator import RequestValidator

from smsrelay.processes.scheduler import default_duties

from smsrelay.service.outbound import dispatch, release
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port

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


@pytest.mark.parametrize("first_fault,settled_by", [("created_then_5xx", "adopted"), ("outage", "released")])
def test_held_unknown__reconciliation_asks_twilio_again_and_settles_it(make_stack, first_fault, settled_by):
    # Callbacks lost: only asking Twilio can settle it.
    stack = make_stack(start_worker=False, sim_overrides={"outage_hang_seconds": 0.1},
                       settings_overrides={"twilio_timeout_seconds": 1.0,
                                           "public_base_url": f"http://127.0.0.1:{free_port()}"})
    assert "unknown_outcomes" in dict(default_duties()), "the scheduler runs it"
    org = stack.create_org()
    run = lambda: stack.run(lambda rt: dispatch.send_message(rt, msg["id"]))  # noqa: E731
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario(first_fault)  # created (and the answer lost), or not created at all
        with stack.client(org["apiKey"]) as api:
            msg = api.post("/v1/messages", json={"to": TO, "body": "settle me"}).json()
        assert run() == "retry"
        sim.clear_scenarios()
        sim.set_scenario("outage")
        while (outcome := run()) == "retry":
            pass
        assert outcome == "held:unknown_outcome"
        sim.clear_scenarios()
        result = stack.run(dispatch.settle_unknown_outcomes)
        assert result[settled_by] == 1, result
        if settled_by == "released":
            assert stack.message(msg["id"])["metadata"].get("hold") is None
            time.sleep(2 * 1.0 + 5)  # the earlier attempt must have settled before a resend
            assert run() == "sent"
        row = stack.message(msg["id"])
        assert row["twilioSid"] and row["metadata"].get("outcome") is None
        assert [m["body"] for m in sim.ledger(to=TO)] == ["settle me"], "exactly one copy at Twilio"
