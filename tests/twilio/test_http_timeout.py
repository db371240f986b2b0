"""TWILIO_TIMEOUT_SECONDS bounds every request the adapter makes through the official SDK."""

from __future__ import annotations

import time

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def test_hung_twilio__attempt_ends_at_the_timeout_and_the_send_is_settled_by_asking(make_stack):
    # Callbacks go nowhere, so only asking Twilio can settle the message.
    stack = make_stack(sim_overrides={"outage_hang_seconds": 60.0},
                       settings_overrides={"twilio_timeout_seconds": 2.0,
                                           "public_base_url": f"http://127.0.0.1:{free_port()}"})
    org = stack.create_org()
    to = "+14155550161"
    with SimulatorClient(stack.sim.url) as sim:
        # Twilio creates the message, then never answers the request.
        sim.set_scenario("created_then_timeout", for_seconds=5)
        try:
            with stack.client(org["apiKey"]) as api:
                started = time.monotonic()
                msg = api.post("/v1/messages", json={"to": to, "body": "hung"}).json()
            ended = wait_until(lambda: stack.message(msg["id"])["metadata"].get("lastError"), timeout=4,
                               what="the hung attempt to end")
            assert time.monotonic() - started < 4.5
            assert ended["httpStatus"] is None, "a timeout is not an answer"
            row = wait_until(lambda: (m := stack.message(msg["id"]))["twilioSid"] and m, timeout=20,
                             what="the message to be settled by asking Twilio")
            assert row["status"] != "failed"
            assert row["metadata"].get("reconciled") is True, "adopted from Twilio's copy, not resent"
            assert [m["body"] for m in sim.ledger(to=to)] == ["hung"], "sent exactly once"
        finally:
            sim.reset()  # ends the hung request


def test_twilio_creates_after_we_gave_up__found_and_adopted_not_resent(make_stack):
    # Twilio works on a request it received even after our client gave up: here it creates the
    # message 4.5 s into a request we abandoned at 2 s, later than "last attempt + timeout".
    # The re-run, after the settle wait, must find that copy rather than send again.
    stack = make_stack(settings_overrides={"twilio_timeout_seconds": 2.0,
                                           "public_base_url": f"http://127.0.0.1:{free_port()}"})
    org = stack.create_org()
    to = "+14155550162"
    with SimulatorClient(stack.sim.url) as sim:
        sim.configure(api_latency="fixed:4500")
        with stack.client(org["apiKey"]) as api:
            msg = api.post("/v1/messages", json={"to": to, "body": "late create"}).json()
        wait_until(lambda: stack.message(msg["id"])["metadata"].get("lastError"), timeout=6,
                   what="the abandoned attempt to end")
        sim.wait_for(lambda ledger: any(m["to"] == to for m in ledger), timeout=6)
        sim.configure(api_latency="")  # asking Twilio afterwards is quick
        row = wait_until(lambda: (m := stack.message(msg["id"]))["twilioSid"] and m, timeout=30,
                         what="the message to be settled by asking Twilio")
        assert [m["body"] for m in sim.ledger(to=to)] == ["late create"], "sent exactly once"
        assert row["metadata"].get("reconciled") is True
