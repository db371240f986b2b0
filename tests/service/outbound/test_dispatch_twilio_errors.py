"""Twilio's errors at send time: a permanent one fails the message at once with its code, a
retryable one is retried and the message is sent exactly once."""

from __future__ import annotations

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until

TO = "+14155552671"


def _send(stack, key, **body):
    with stack.client(key) as api:
        return api.post("/v1/messages", json={"to": TO, "body": "hello", **body})


def test_permanent_twilio_error__fails_at_once_with_code_and_message(stack):
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("geo_blocked", country="US")
    r = _send(stack, org["apiKey"])
    assert r.status_code == 202
    row = stack.wait_status(r.json()["id"], "failed")
    assert row["metadata"]["twilioErrorCode"] == "21408"
    assert "permission" in row["metadata"]["twilioErrorMessage"].lower()
    assert row["metadata"]["attempts"] == 1, "21408 is not retryable: one attempt only"
    assert row["twilioSid"] is None


def test_retryable_twilio_error__is_retried_then_sent(stack):
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("rate_limited")
        r = _send(stack, org["apiKey"])
        refused = wait_until(lambda: (m := stack.message(r.json()["id"]))["metadata"].get("lastError") and m,
                             what="Twilio's 429 to be recorded")
        assert refused["status"] == "queued" and refused["metadata"]["lastError"]["code"] == 20429
        sim.clear_scenarios()
        row = stack.wait_status(r.json()["id"], {"delivered"}, timeout=40)
        assert row["metadata"]["attempts"] >= 2
        assert row["metadata"]["lastError"] is None
        assert len(sim.ledger(to=TO)) == 1, "sent exactly once"
