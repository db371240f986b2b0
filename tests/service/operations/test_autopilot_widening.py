"""A mitigation that did not stop the failures: the autopilot widens once (one sender number →
its org), holding the wider scope before it lets the narrow one go so nothing held slips out.
(A second widening waits for a person: tests/domain/test_autopilot.py.)"""

from __future__ import annotations

from smsrelay.service.operations import autopilot, autopilot_config
from tests.support.incident import settled, sim
from tests.support.waiting import wait_until

FAST = dict(autopilot_confirm_seconds=0, autopilot_verify_seconds=0, autopilot_probe_seconds=3600,
            autopilot_close_seconds=0)
N1, N2, OTHER = "+15017122661", "+15017122664", "+15017122663"


def _send(stack, org, to, from_):
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json={"to": to, "body": "Your code is 1234", "from": from_})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_autopilot__widens_from_the_sender_to_its_org_once(make_stack):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("Two numbers", numbers=(N1, N2))
    other = stack.create_org("Other", numbers=(OTHER,))

    async def enable(rt):
        async with rt.pool.connection() as conn:
            await autopilot_config.set_enabled(conn, ["sender_number"], True, actor="test")
    stack.run(enable)
    with sim(stack) as s:
        s.set_scenario("sender_number_issue", number=N1)
        settled(stack, [_send(stack, org, f"+14155556{k:03d}", N1) for k in range(10)])
        stack.run(autopilot.autopilot_duty)
        [narrow] = stack.sql('SELECT * FROM "AutopilotAction"')
        assert (narrow["scopeKind"], narrow["scopeValue"]) == ("sender", N1)
        held = _send(stack, org, "+14155556500", N1)
        # The second number breaks too: the sender hold does not stop the org's failures.
        s.set_scenario("sender_number_issue", number=N2)
        settled(stack, [_send(stack, org, f"+14155556{100 + k:03d}", N2) for k in range(10)])
        result = stack.run(autopilot.autopilot_duty)
        assert result["followed"][narrow["id"]] == "widened", result
        rows = stack.sql('SELECT * FROM "AutopilotAction" ORDER BY "createdAt"')
        assert [(r["scopeKind"], r["state"], r["widened"]) for r in rows] == [
            ("sender", "widened", False), ("org", "active", True)]
        assert stack.sql('SELECT "smsDisabled" FROM "OrgSettings" WHERE "orgId" = %s', (org["id"],))[0]["smsDisabled"]
        # What the sender hold held is still held, now by the org's disable: never sent meanwhile.
        m = wait_until(lambda: ((r := stack.message(held))["metadata"].get("hold") or {}).get("reason") == "org_disabled"
                       and r, what="the held message to be held by the org's disable")
        assert m["status"] == "queued" and m["twilioSid"] is None and not m["metadata"].get("attempts")
        flowing = _send(stack, other, "+14155556900", OTHER)
        stack.wait_status(flowing, "delivered")
        s.clear_scenarios()


def test_autopilot__undoes_a_throttle_that_did_not_help_and_says_it_needs_a_person(make_stack):
    # The simulator's rate_limited answers 429 at any rate: throttling the org cannot help.
    from tests.support.autopilot import Announcements

    notes = Announcements()
    try:
        stack = make_stack(settings_overrides={**FAST, "alert_webhook_url": notes.url})
        org = stack.create_org("Busy", numbers=(N1,))

        async def enable(rt):
            async with rt.pool.connection() as conn:
                await autopilot_config.set_enabled(conn, ["rate_limiting"], True, actor="test")
        stack.run(enable)
        with sim(stack) as s:
            s.set_scenario("rate_limited", number=N1)
            settled(stack, [_send(stack, org, f"+14155557{k:03d}", N1) for k in range(10)])
            stack.run(autopilot.autopilot_duty)
            assert stack.sql('SELECT "maxMessagesPerMinute" FROM "OrgSettings"')[0]["maxMessagesPerMinute"] == 30
            settled(stack, [_send(stack, org, f"+14155557{100 + k:03d}", N1) for k in range(4)])
            result = stack.run(autopilot.autopilot_duty)
            s.clear_scenarios()
        [action] = stack.sql('SELECT * FROM "AutopilotAction"')
        assert result["followed"][action["id"]] == "reverted" and action["endedBy"] == "autopilot"
        assert stack.sql('SELECT "maxMessagesPerMinute" FROM "OrgSettings"')[0]["maxMessagesPerMinute"] is None
        assert "waiting for a person" in result["decided"]["rate_limiting"]
        assert any("undid" in t and "needs a person" in t for t in notes.titles()), notes.titles()
    finally:
        notes.stop()
