"""Spend caps hold messages at the cap, never drop them, and release them when the cap resets
(a new UTC day) or is raised; the price ceiling holds sends to dearer destinations."""

from __future__ import annotations

from smsrelay.service.spend import caps, prices
from tests.support.waiting import wait_until

TO_US, TO_GB = "+14155552671", "+447400123456"


def _set(stack, org_id, **changes):
    async def go(rt):
        async with rt.pool.connection() as conn:
            return await caps.set_policy(conn, org_id, changes)
    return stack.run(go)


def _statuses(stack, ids):
    rows = stack.sql('SELECT "id", "status", "metadata"->\'hold\'->>\'reason\' AS "hold" FROM "MessageLog" WHERE "id" = ANY(%s)',
                     (ids,))
    return {r["id"]: (r["status"], r["hold"]) for r in rows}


def _send(stack, org, to, n, body="cap me"):
    with stack.client(org["apiKey"]) as api:
        return [api.post("/v1/messages", json={"to": to, "body": f"{body} {i}"}).json()["id"] for i in range(n)]


def _split(stack, ids, want_delivered, want_held, what):
    """Wait until exactly `want_delivered` of `ids` are delivered and the rest held by the cap.
    Which ones go first is the workers' concurrent order, not the sending order."""
    def state():
        st = _statuses(stack, ids)
        delivered = [k for k, v in st.items() if v[0] == "delivered"]
        held = [k for k, v in st.items() if v == ("queued", "spend_cap")]
        return (len(delivered) == want_delivered and len(held) == want_held) and (delivered, held)
    return wait_until(state, timeout=60, what=lambda: f"{what}: {_statuses(stack, ids)}")


def test_segment_cap__holds_at_the_cap_then_releases_at_the_day_reset_and_when_raised(make_stack):
    stack = make_stack()
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    _set(stack, org["id"], dailySegmentCap=2)
    ids = _send(stack, org, TO_US, 5)
    free = _send(stack, other, TO_US, 3)
    for message_id in free:
        stack.wait_status(message_id, "delivered", timeout=60)
    _, held = _split(stack, ids, 2, 3, "two under the cap delivered, three held")
    assert len(_statuses(stack, ids)) == 5, "held, never dropped"

    # Midnight UTC: today's ledger row becomes yesterday's, as it does when the day turns.
    stack.sql('UPDATE "OrgSpendDay" SET "day" = "day" - 1 WHERE "orgId" = %s', (org["id"],))
    _, still = _split(stack, ids, 4, 1, "two more under the new day's cap, the fifth still held")
    assert set(still) < set(held)

    _set(stack, org["id"], dailySegmentCap=3)
    stack.wait_status(still[0], "delivered", timeout=60)


def test_money_cap_and_price_ceiling__hold_the_dear_and_let_the_cheap_through(make_stack):
    stack = make_stack()
    org = stack.create_org()
    stack.run(lambda rt: prices.refresh_destination_prices(rt, ["GB", "US"]))
    _set(stack, org["id"], dailySpendCap="0.05", priceCeiling="0.01")
    gb = _send(stack, org, TO_GB, 1)
    us = _send(stack, org, TO_US, 3)  # 0.0079 each: the cap of 0.05 takes all three
    for message_id in us:
        stack.wait_status(message_id, "delivered", timeout=60)
    wait_until(lambda: _statuses(stack, gb)[gb[0]] == ("queued", "price_ceiling"), timeout=60, what="GB held")
    _set(stack, org["id"], priceCeiling="0.05")
    # 0.0237 spent + 0.04 passes the daily 0.05: the ceiling lifted, the money cap holds it now.
    wait_until(lambda: _statuses(stack, gb)[gb[0]] == ("queued", "spend_cap"), timeout=60, what="GB over the cap")
    _set(stack, org["id"], dailySpendCap="1")
    stack.wait_status(gb[0], "delivered", timeout=60)
    used = stack.sql('SELECT "segments", "cost" FROM "OrgSpendDay" WHERE "orgId" = %s', (org["id"],))
    assert [(u["segments"], str(u["cost"])) for u in used] == [(4, "0.06370")]
    audit = stack.sql('SELECT "action", "after" FROM "AuditLog" WHERE "tableName" = %s AND "orgId" = %s ORDER BY "id"',
                      ("OrgSpendPolicy", org["id"]))
    assert [a["action"] for a in audit] == ["insert", "update", "update"] and audit[-1]["after"]["dailySpendCap"] == 1
