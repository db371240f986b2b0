"""Matching a crashed send to Twilio's copy: every signal that identifies the message, and a
hold rather than a guess.

The Twilio timeout is scaled to 2 s (production 10 s): the wait before resending (2 x timeout +
5 s) and the adoption window (the marker's since/last plus the timeout) both scale with it, so
the same decisions happen, only sooner."""

from __future__ import annotations

import httpx

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.waiting import wait_until

MG_OURS = "MG" + "a" * 32
MG_OTHER = "MG" + "b" * 32


def _stack(make_stack, **sim):
    # Callbacks go nowhere: the re-run must find Twilio's copy by asking, as after a crash.
    return make_stack(sim_overrides={"outage_hang_seconds": 60.0, **sim},
                      settings_overrides={"twilio_timeout_seconds": 2.0,
                                          "public_base_url": f"http://127.0.0.1:{free_port()}"})


def _settled(stack, sim, message_id: str, to: str, copies: int = 1) -> bool:
    row = stack.message(message_id)
    return bool(row["twilioSid"] or row["status"] == "failed" or row["metadata"].get("outcome") == "unknown"
                or len(sim.ledger(to=to)) > copies)


def test_body_rewritten_by_smart_encoding__adopted_not_resent(make_stack):
    stack = _stack(make_stack, smart_encoding=True)
    org = stack.create_org("MS", numbers=(), messaging_service_sid=MG_OURS)
    to, body = "+14155557201", "It\u2019s \u201cready\u201d \u2013 come by"
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("created_then_5xx")
        try:
            with stack.client(org["apiKey"]) as api:
                message_id = api.post("/v1/messages", json={"to": to, "body": body}).json()["id"]
            wait_until(lambda: _settled(stack, sim, message_id, to), timeout=30, what="settled")
            copies = sim.ledger(to=to)
            assert [c["body"] for c in copies] == ['It\'s "ready" - come by'], "one send, rewritten"
            row = stack.message(message_id)
            assert row["twilioSid"] == copies[0]["sid"]
            assert row["metadata"].get("reconciled") is True, "the adoption path ran"
        finally:
            sim.reset()


def test_messaging_service_sender__adopts_its_own_copy_not_another_services(make_stack):
    stack = _stack(make_stack)
    org = stack.create_org("MS", numbers=(), messaging_service_sid=MG_OURS)
    to, body = "+14155557202", "your code is 1234"
    s = stack.settings
    # Another service (another app on the account) sent the same text to the same person just before.
    decoy = httpx.post(f"{stack.sim.url}/2010-04-01/Accounts/{s.twilio_account_sid}/Messages.json",
                       data={"To": to, "MessagingServiceSid": MG_OTHER, "Body": body},
                       auth=(s.twilio_account_sid, s.twilio_auth_token)).json()["sid"]
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("created_then_5xx")
        try:
            with stack.client(org["apiKey"]) as api:
                message_id = api.post("/v1/messages", json={"to": to, "body": body}).json()["id"]
            wait_until(lambda: _settled(stack, sim, message_id, to, copies=2), timeout=30, what="settled")
            ours = [c for c in sim.ledger(to=to) if c["messaging_service_sid"] == MG_OURS]
            assert len(ours) == 1, "one send through our service"
            row = stack.message(message_id)
            assert row["twilioSid"] == ours[0]["sid"] != decoy
            assert row["metadata"].get("reconciled") is True, "the adoption path ran"
        finally:
            sim.reset()


def test_identical_bodies_to_one_person__none_takes_the_others_sid(make_stack):
    stack = _stack(make_stack)
    org = stack.create_org()
    to, body = "+14155557203", "same text twice"
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("created_then_5xx")
        try:
            with stack.client(org["apiKey"]) as api:
                ids = [api.post("/v1/messages", json={"to": to, "body": body}).json()["id"] for _ in range(2)]
            for message_id in ids:
                wait_until(lambda: _settled(stack, sim, message_id, to, copies=2), timeout=30, what="settled")
            copies = sim.ledger(to=to)
            assert len(copies) == 2, "one send each, never resent"
            owner = {c["sid"]: c["status_callback"].rsplit("messageId=", 1)[1] for c in copies}
            for row in map(stack.message, ids):
                assert row["status"] != "failed", row["metadata"]
                if row["twilioSid"]:
                    assert owner[row["twilioSid"]] == row["id"], "took another row's sid"
                else:
                    assert row["metadata"]["hold"]["reason"] == "unknown_outcome"
        finally:
            sim.reset()
