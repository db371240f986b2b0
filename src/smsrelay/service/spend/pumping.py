"""The pumping signal's facts: each org's window of traffic and the same window on the 7
earlier days (domain/pumping.py decides). Read by the alert engine and by the diagnosis."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from smsrelay.domain import pumping
from smsrelay.store import sql

BASELINE_DAYS = 7


async def windows(conn: AsyncConnection, since: datetime, until: datetime) -> list[pumping.Window]:
    rows = await sql.all(conn, "pumping_window", since=since, until=until, high=pumping.HIGH_PRICE)
    acc: dict[str, dict] = defaultdict(lambda: {"messages": 0, "cost": 0.0, "high_price": 0, "new_numbers": 0,
                                               "new_by_country": {}, "high_by_country": {}})
    for r in rows:
        a = acc[r["orgId"]]
        a["messages"] += r["messages"]
        a["cost"] += r["cost"]
        a["high_price"] += r["highPrice"]
        a["new_numbers"] += r["newNumbers"]
        if r["newNumbers"]:
            a["new_by_country"][r["country"]] = r["newNumbers"]
        if r["highPrice"]:
            a["high_by_country"][r["country"]] = r["highPrice"]
    return [pumping.Window(org_id, **a) for org_id, a in sorted(acc.items())]


async def signals(conn: AsyncConnection, since: datetime, until: datetime) -> list[pumping.Signal]:
    """Orgs whose window jumps above their own same window on the earlier days."""
    now = await windows(conn, since, until)
    if not now:
        return []
    baseline: dict[str, list[pumping.Window]] = defaultdict(list)
    for days in range(1, BASELINE_DAYS + 1):
        shift = timedelta(days=days)
        for w in await windows(conn, since - shift, until - shift):
            baseline[w.org_id].append(w)
    return pumping.detect(now, baseline, since=since, until=until)
