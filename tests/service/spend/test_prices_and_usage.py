"""Twilio's price on every message, fetched once final, an estimate until then, and usage per
org that equals what the simulator's ledger charged."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from smsrelay.service.spend import prices, usage
from smsrelay.simulator.ledger import SimulatorClient

TO_US, TO_GB = "+14155552671", "+447400123456"


def test_price__estimated_until_final_then_twilios_and_usage_sums_the_ledger(stack):
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": to, "body": body}).json()["id"]
               for to, body in ((TO_US, "a" * 161), (TO_GB, "hello"), (TO_GB, "again"))]
    with stack.client(other["apiKey"]) as api:
        theirs = api.post("/v1/messages", json={"to": TO_GB, "body": "not ours"}).json()["id"]
    # Every message final, the other org's too: an open one would be priced by its destination.
    for message_id in [*ids, theirs]:
        stack.wait_status(message_id, "delivered")
    stack.run(prices.refresh_destination_prices)
    assert {r["isoCountry"]: r["price"] for r in stack.sql('SELECT * FROM "DestinationPrice"')} == {}, \
        "no open messages left and none given: nothing to price yet"
    stack.run(lambda rt: prices.refresh_destination_prices(rt, ["GB", "US"]))
    with stack.client(org["apiKey"]) as api:
        estimate = api.get(f"/v1/messages/{ids[1]}").json()
    assert (estimate["price"], estimate["priceUnit"], estimate["priceEstimated"]) == ("-0.04000", "USD", True)

    stack.run(lambda rt: prices.price_duty(rt, settle_seconds=0))
    rows = stack.sql('SELECT "id", "price", "priceUnit" FROM "MessageLog" WHERE "orgId" = %s', (org["id"],))
    assert {r["id"]: r["price"] for r in rows} == {ids[0]: Decimal("-0.01580"), ids[1]: Decimal("-0.04000"),
                                                   ids[2]: Decimal("-0.04000")}
    with stack.client(org["apiKey"]) as api:
        final = api.get(f"/v1/messages/{ids[0]}").json()
        today = datetime.now(timezone.utc).date().isoformat()
        got = api.get("/v1/usage", params={"from": today, "to": today}).json()
        bad = api.get("/v1/usage", params={"from": today, "to": "2000-01-01"})
        garbled = api.get("/v1/usage", params={"from": "last week"})
    assert (final["price"], final["priceEstimated"]) == ("-0.01580", False)
    sids = {r["twilioSid"] for r in stack.sql('SELECT "twilioSid" FROM "MessageLog" WHERE "orgId" = %s', (org["id"],))}
    with SimulatorClient(stack.sim.url) as sim:
        ledger_total = sum(-Decimal(m["price"]) for m in sim.ledger(direction="outbound") if m["sid"] in sids)
    assert Decimal(got["cost"]) == ledger_total == Decimal("0.09580")
    assert (got["messages"], got["segments"], got["unpricedMessages"]) == (3, 4, 0)
    assert {c["country"]: c["cost"] for c in got["byCountry"]} == {"GB": "0.08000", "US": "0.01580"}
    assert got["byChannel"] == [{"channel": "sms", "messages": 3, "segments": 4, "cost": "0.09580"}]
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_usage_range"
    assert garbled.status_code == 400 and garbled.json()["error"]["reason"] == "bad_date"

    everyone = stack.run(lambda rt: _all_usage(rt))
    assert {o["orgId"]: o["messages"] for o in everyone["byOrg"]} == {org["id"]: 3, other["id"]: 1}
    check = stack.run(lambda rt: usage.reconcile(rt, *usage.checked_range(None, None, default_days=1)))
    assert check["matches"] and check["differences"] == [], check


async def _all_usage(rt):
    async with rt.pool.connection() as conn:
        return await usage.usage(conn, None, *usage.checked_range(None, None, default_days=1))
