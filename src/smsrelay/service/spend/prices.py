"""Twilio's price of every outbound message, and the destination prices that estimate it.

Twilio's status callbacks carry no price and its price appears only once a message is final, so
a scheduler duty (`price_duty`) asks for it: a batch of final, unpriced messages (oldest first,
from a small partial index), fetched a few at a time through the SDK and written back in one
statement. The same round refreshes the Pricing API's price of each destination in use (open
messages, the batch's, and cached ones older than a day), which estimates a message until then.
"""

from __future__ import annotations

import logging
from typing import Any

from smsrelay.service.runtime import Runtime
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError

log = logging.getLogger(__name__)

BATCH = 200
# A just-final message: Twilio may take a moment more to settle its price.
SETTLE_SECONDS = 2


async def refresh_destination_prices(rt: Runtime, countries: list[str] | None = None) -> list[str]:
    """Fetch and cache the Pricing API's price of the destinations that need one; returns them."""
    async with rt.pool.connection() as conn:
        due = [r["country"] for r in await sql.all(conn, "countries_to_price", countries=countries or [])]
    done = []
    for iso in due:
        try:
            found = await rt.gateway.destination_price(iso)
        except TwilioError as exc:
            log.warning("pricing %s: %s", iso, exc)
            continue
        if found["price"] is None:
            continue
        async with rt.pool.connection() as conn:
            await sql.execute(conn, "upsert_destination_price", iso=iso, price=found["price"], unit=found["priceUnit"])
        done.append(iso)
    return done


async def fetch_message_prices(rt: Runtime, limit: int = BATCH, settle_seconds: float = SETTLE_SECONDS) -> dict[str, Any]:
    async with rt.pool.connection() as conn:
        rows = await sql.all(conn, "unpriced_messages", settle_seconds=settle_seconds, limit=limit)
    countries = sorted({r["country"] for r in rows if r["country"]})
    priced = await refresh_destination_prices(rt, countries)
    if not rows:
        return {"messages": 0, "priced": 0, "countries": priced}
    answers = await rt.gateway.message_prices([r["twilioSid"] for r in rows])
    ids, prices, units = [], [], []
    for r in rows:
        a = answers.get(r["twilioSid"])
        if a is None:
            continue
        ids.append(r["id"])
        prices.append(a["price"])
        units.append((a["price_unit"] or "USD").upper())
    async with rt.pool.connection() as conn:
        written = await sql.all(conn, "record_prices", ids=ids, prices=prices, units=units) if ids else []
    return {"messages": len(rows), "priced": sum(1 for p in prices if p is not None), "written": len(written),
            "countries": priced}


async def price_duty(rt: Runtime, settle_seconds: float = SETTLE_SECONDS) -> dict[str, Any]:
    """The scheduler's duty: batches until a short one (a backlog drains within one round)."""
    total = {"messages": 0, "priced": 0}
    for _ in range(10):
        got = await fetch_message_prices(rt, settle_seconds=settle_seconds)
        total["messages"] += got["messages"]
        total["priced"] += got["priced"]
        if got["messages"] < BATCH:
            break
    return total


async def destination_prices(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.pool.connection() as conn:
        return await sql.all(conn, "destination_prices")
