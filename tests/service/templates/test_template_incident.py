"""The acceptance run of message templates against the simulator: content filtering that
matches one template's text is diagnosed as that template; disabling it holds only its
messages while the org's other template and its free text are delivered; enabling it sends
each held message once (counted in the simulator's ledger); the report lists the template and
what changed between its versions."""

from __future__ import annotations

from collections import Counter

from smsrelay.service.operations import report
from smsrelay.service.templates import hold
from tests.support.incident import diagnose, history, recipient, settled, sim
from tests.support.traffic import statuses
from tests.support.waiting import wait_until

NUMBER = "+15017122661"
TABLE_READY = "Hi {{name}}, your table for {{party_size:int}} is ready. Reply STOP to opt out."
PROMO = "{{name}}, tonight only: 2-for-1 desserts at example.com/menu. Reply STOP to opt out."


def _send(api, i: int, **message) -> str:
    r = api.post("/v1/messages", json={"to": recipient(i), **message})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _in_conn(fn, *args, **kwargs):
    async def go(rt):
        async with rt.pool.connection() as conn:
            return await fn(conn, *args, **kwargs)
    return go


def test_filtering_of_one_template__is_diagnosed_held_alone_and_released_once(stack):
    org = stack.create_org("Bistro", numbers=(NUMBER,))
    history(stack, [org], 10)
    with stack.client(org["apiKey"]) as api, sim(stack) as s:
        for name, body in (("table_ready", TABLE_READY), ("promo", PROMO)):
            assert api.post("/v1/templates", json={"name": name, "body": body}).status_code == 201
        s.set_scenario("content_filtering", match="2-for-1 desserts")
        promo = [_send(api, i, template="promo", variables={"name": f"Guest {i}"}) for i in range(5)]
        table = [_send(api, 10 + i, template="table_ready", variables={"name": f"Ann {i}", "party_size": i + 2})
                 for i in range(3)]
        free = [_send(api, 20, body="Thanks for dining with us")]
        settled(stack, promo + table + free)

        result = diagnose(stack)
        top = result["causes"][0]
        assert top["cause"] == "content_filtering", result["causes"][:2]
        assert top["summary"].startswith(f"Template promo v1 of {org['id']}"), top["summary"]
        assert top["evidence"][0].startswith("template promo v1") and "2-for-1 desserts" in top["evidence"][1]
        assert top["actions"][0] == (f'smsrelay template disable {org["id"]} promo '
                                     '--reason "carrier filtering of this template"')
        first = result["templates"][0]
        assert (first["template"], first["version"], first["failures"], first["share"]) == ("promo", 1, 5, 1.0)

        held = stack.run(_in_conn(hold.disable, org["id"], "promo", actor="test", reason="carrier filtering"))
        assert held["disabled"] is True
        promo_held = [_send(api, 30 + i, template="promo", variables={"name": f"Later {i}"}) for i in range(3)]
        # Fixed while held: later sends use v2; the held ones keep the v1 text they were rendered from.
        assert api.patch("/v1/templates/promo", json={"body": PROMO.replace("2-for-1 desserts", "our new menu")}
                         ).json()["version"] == 2
        table_after = [_send(api, 40 + i, template="table_ready", variables={"name": f"Bo {i}", "party_size": 2})
                       for i in range(2)]
        free_after = [_send(api, 50, body="Your receipt is attached")]
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, table_after + free_after).values()),
                   timeout=20, what="the other template and free text to be delivered while promo is held")
        wait_until(lambda: all((r["metadata"].get("hold") or {}).get("reason") == "template_disabled"
                               for r in statuses(stack, promo_held).values()), timeout=20, what="promo to be held")
        assert all(r["status"] == "queued" for r in statuses(stack, promo_held).values())
        sent_while_held = [m for m in s.ledger(from_=NUMBER) if m["body"].startswith("Later")]
        assert sent_while_held == [], "a disabled template's message reached Twilio"

        s.clear_scenarios()
        enabled = stack.run(_in_conn(hold.enable, org["id"], "promo", actor="test"))
        assert (enabled["disabled"], enabled["held"]) == (False, 3)
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, promo_held).values()),
                   timeout=30, what="the held messages to be delivered after enable")
        ledger = Counter(m["body"] for m in s.ledger(from_=NUMBER) if m["body"].startswith("Later"))
        assert sorted(ledger.values()) == [1, 1, 1] and len(ledger) == 3, ledger
        assert all("2-for-1 desserts" in body for body in ledger), "held messages keep the version they were rendered from"

        text = stack.run(lambda rt: report.build(rt, "1h"))
    audit = stack.sql('SELECT "action", "reason" FROM "AuditLog" WHERE "tableName" = \'MessageTemplate\' '
                      'AND "action" IN (\'disable\', \'enable\') ORDER BY "id"')
    assert audit == [{"action": "disable", "reason": "carrier filtering"},
                     {"action": "enable", "reason": "template enable promo"}]
    review = text.split("- [ ] Review message content templates\n", 1)[1].split("- [ ]", 1)[0]
    assert review.startswith("  - `promo` v1"), review
    assert "v1 → v2: - 2-for-1 desserts; + our new menu" in review
