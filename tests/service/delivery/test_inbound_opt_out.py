"""Opt-out as Twilio defines it, end to end: a phone texts a keyword, the simulator posts a
signed inbound webhook, and our sends to that phone are refused before Twilio — at the API
(422) or, if the opt-out came after acceptance, as 'failed' with 21610. Twilio's own 21610
records the opt-out too."""

from __future__ import annotations

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.runbook import runbook_sql
from tests.support.traffic import outbound_ledger
from tests.support.ports import free_port
from tests.support.waiting import wait_until

NUMBER, OTHER_NUMBER = "+15017122661", "+15017122662"
HELP_TEXT = "Acme Dental: appointment reminders. Call 415-555-0100. Reply STOP to opt out."


def _phone(i: int) -> str:
    return f"+1415555{2600 + i:04d}"


def _send(api, to: str, body: str = "Your appointment is tomorrow. Reply STOP to opt out."):
    return api.post("/v1/messages", json={"to": to, "body": body})


def _opted_out(stack, org_id: str, phone: str) -> list[dict]:
    return stack.sql('SELECT * FROM "OptOut" WHERE "orgId" = %s AND "phone" = %s', (org_id, phone))


@pytest.fixture
def org_stack(make_stack):
    stack = make_stack()
    org = stack.create_org("Acme", numbers=(NUMBER,), help_text=HELP_TEXT)
    return stack, org


STOP_WORDS = ["STOP", "stopall", " Unsubscribe ", "cancel\n", "End", "QUIT", "revoke", "\tOptOut  "]


def test_stop_keywords__opt_the_sender_out_and_the_api_refuses_422(org_stack):
    stack, org = org_stack
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        for i, word in enumerate(STOP_WORDS):
            answer = sim.send_inbound(_phone(i), NUMBER, word)
            assert answer["status"] == 200, answer
            assert _opted_out(stack, org["id"], _phone(i)), f"{word!r} did not opt out"
            r = _send(api, _phone(i))
            assert r.status_code == 422, word
            error = r.json()["error"]
            assert error["code"] == "recipient_opted_out" and error["twilioEquivalent"] == 21610
        # Not a keyword on its own: no opt-out.
        sim.send_inbound(_phone(20), NUMBER, "please stop calling me at work")
        r = _send(api, _phone(20))
        assert r.status_code == 202
        stack.wait_status(r.json()["id"], "delivered")
        assert [m["to"] for m in outbound_ledger(sim, NUMBER)] == [_phone(20)]


def test_start_keywords__opt_back_in(org_stack):
    stack, org = org_stack
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        for i, word in enumerate(["START", "yes", " Unstop "]):
            sim.send_inbound(_phone(10 + i), NUMBER, "STOP")
            assert _send(api, _phone(10 + i)).status_code == 422
            sim.send_inbound(_phone(10 + i), NUMBER, word)
            assert not _opted_out(stack, org["id"], _phone(10 + i)), word
            r = _send(api, _phone(10 + i))
            assert r.status_code == 202, word
            stack.wait_status(r.json()["id"], "delivered")


def test_help_keywords__answer_with_the_orgs_help_text_as_twiml(org_stack):
    stack, org = org_stack
    with SimulatorClient(stack.sim.url) as sim:
        for word in ["HELP", " info ", "Help"]:
            answer = sim.send_inbound(_phone(2), NUMBER, word)
            assert answer["status"] == 200
            assert "<Response><Message>" in answer["body"], word
            assert "Acme Dental: appointment reminders" in answer["body"]
    assert not _opted_out(stack, org["id"], _phone(2))


def test_help__without_org_text_answers_twilios_default(make_stack):
    stack = make_stack(start_worker=False)
    stack.create_org("Plain", numbers=(NUMBER,))
    with SimulatorClient(stack.sim.url) as sim:
        answer = sim.send_inbound(_phone(3), NUMBER, "help")
    assert "Reply STOP to unsubscribe." in answer["body"]


def test_stop__answers_empty_twiml_because_twilio_sends_its_own_confirmation(org_stack):
    stack, _ = org_stack
    with SimulatorClient(stack.sim.url) as sim:
        answer = sim.send_inbound(_phone(3), NUMBER, "STOP")
    assert answer["status"] == 200 and "<Message>" not in answer["body"]


def test_opt_out__is_per_org(org_stack):
    stack, org = org_stack
    other = stack.create_org("Other", numbers=(OTHER_NUMBER,))
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api, \
            stack.client(other["apiKey"]) as other_api:
        sim.send_inbound(_phone(4), NUMBER, "STOP")
        assert _send(api, _phone(4)).status_code == 422
        r = _send(other_api, _phone(4))
        assert r.status_code == 202
        stack.wait_status(r.json()["id"], "delivered")


def test_opt_out_after_acceptance__fails_with_21610_before_twilio(org_stack):
    stack, org = org_stack
    stack.sql(runbook_sql("smsDisabled", org["id"]))
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        r = _send(api, _phone(6))
        assert r.status_code == 202
        message_id = r.json()["id"]
        wait_until(lambda: (stack.message(message_id)["metadata"].get("hold") or {}).get("reason") == "org_disabled",
                   timeout=15, what="message held")
        sim.send_inbound(_phone(6), NUMBER, "stop")
        stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = %s', (org["id"],))
        row = stack.wait_status(message_id, "failed")
        assert [m for m in outbound_ledger(sim, NUMBER) if m["to"] == _phone(6)] == []
    assert row["metadata"]["twilioErrorCode"] == "21610"
    assert row["metadata"]["hold"] is None


def test_twilio_21610__records_the_opt_out_so_the_next_send_is_refused(org_stack):
    stack, org = org_stack
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        # The phone's STOP reaches Twilio but not us (say the number's webhook pointed elsewhere).
        sim.configure(inbound_url=f"http://127.0.0.1:{free_port()}/nowhere")
        sim.send_inbound(_phone(7), NUMBER, "STOP")
        sim.set_scenario("opted_out")
        assert not _opted_out(stack, org["id"], _phone(7))
        r = _send(api, _phone(7))
        assert r.status_code == 202
        row = stack.wait_status(r.json()["id"], "failed")
        assert row["metadata"]["twilioErrorCode"] == "21610"
        recorded = _opted_out(stack, org["id"], _phone(7))
        assert recorded and recorded[0]["source"] == "twilio:21610"
        again = _send(api, _phone(7))
    assert again.status_code == 422 and again.json()["error"]["code"] == "recipient_opted_out"
