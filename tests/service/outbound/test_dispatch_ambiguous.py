"""Ambiguous Twilio outcomes: an answer that does not prove refusal never leads to a resend."""

from __future__ import annotations

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.waiting import wait_until


@pytest.mark.parametrize("fault", ["created_then_5xx", "created_then_timeout"])
def test_created_then_answer_lost__each_message_sent_once(make_stack, fault):
    # Callbacks go nowhere: the re-run must find Twilio's copy by asking, as after a crash.
    stack = make_stack(sim_overrides={"outage_hang_seconds": 60.0},
                       settings_overrides={"twilio_timeout_seconds": 2.0,
                                           "public_base_url": f"http://127.0.0.1:{free_port()}"})
    org = stack.create_org()
    recipients = [f"+1415555{7100 + i}" for i in range(3)]
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario(fault)
        try:
            with stack.client(org["apiKey"]) as api:
                ids = [api.post("/v1/messages", json={"to": to, "body": f"{fault} {i}"}).json()["id"]
                       for i, to in enumerate(recipients)]

            def settled_or_resent(message_id: str, to: str) -> bool:
                row = stack.message(message_id)
                return bool(row["twilioSid"] or row["status"] == "failed" or len(sim.ledger(to=to)) > 1)

            for message_id, to in zip(ids, recipients):
                wait_until(lambda: settled_or_resent(message_id, to), timeout=30, what=f"{message_id} to be settled")
            for i, to in enumerate(recipients):
                assert [m["body"] for m in sim.ledger(to=to)] == [f"{fault} {i}"], "exactly one send"
            for row in map(stack.message, ids):
                assert row["status"] != "failed", row["metadata"]
                assert row["metadata"].get("reconciled") is True, "adopted from Twilio's copy"
        finally:
            sim.reset()
