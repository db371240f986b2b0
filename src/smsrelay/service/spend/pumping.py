"""The pumping signal's facts: each org's window of traffic and the same window on the 7
earlier days (domain/pumping.py decides). Read by the alert engine and by the diagnosis.

The never-seen numbers cost one index probe per number sent to, and the earlier days eight
times that: they are counted only for the orgs whose window can use them, and the earlier days
read only for the orgs whose window can be flagged at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from smsrelay.domain import pumping
from smsrelay.store import sql

BASELINE_DAYS = 7


async def windows(conn: AsyncConnection, since: datetime, until: datetime, *, orgs: Collection[str] | None = None,
                  new_numbers_of: Collection[str] | None = None) -> list[pumping.Window]:
    """Each org's window (of `orgs` only, when given), with its never-seen numbers counted for
    the orgs in `new_numbers_of` (all of them when None)."""
    rows = await sql.all(conn, "pumping_window", since=since, until=until, high=pumping.HIGH_PRICE,
                         orgs=None if orgs is None else sorted(orgs))
    acc: dict[str, dict] = defaultdict(lambda: {"messages": 0, "cost": 0.0, "high_price": 0, "new_numbers": 0,
                                               "new_by_country": {}, "high_by_country": {}})
    for r in rows:
        a = acc[r["orgId"]]
        a["messages"] += r["messages"]
        a["cost"] += r["cost"]
        a["high_price"] += r["highPrice"]
        if r["highPrice"]:
            a["high_by_country"][r["country"]] = r["highPrice"]
    probe = sorted(acc if new_numbers_of is None else set(new_numbers_of) & set(acc))
    if probe:
        for r in await sql.all(conn, "pumping_new_numbers", since=since, until=until, orgs=probe):
            a = acc[r["orgId"]]
            a["new_numbers"] += r["newNumbers"]
            if r["newNumbers"]:
                a["new_by_country"][r["country"]] = r["newNumbers"]
    return [pumping.Window(org_id, **a) for org_id, a in sorted(acc.items())]


async def signals(conn: AsyncConnection, since: datetime, until: datetime) -> list[pumping.Signal]:
    """Orgs whose window jumps above their own same window on the earlier days."""
    if not (await sql.one(conn, "pumping_prices_known"))["known"]:
        return []
    now = await windows(conn, since, until, new_numbers_of=())
    now = [w for w in now if pumping.could_signal(w)]
    if not now:
        return []
    probe = {w.org_id for w in now if pumping.needs_new_numbers(w)}
    if probe:
        counted = {w.org_id: w for w in await windows(conn, since, until, orgs=probe)}
        now = [counted.get(w.org_id, w) for w in now]
    # The earlier days' never-seen numbers matter only where today's reach the threshold.
    probe_days = {w.org_id for w in now if w.org_id in probe and w.new_numbers >= pumping.MIN_NEW}
    baseline: dict[str, list[pumping.Window]] = defaultdict(list)
    for days in range(1, BASELINE_DAYS + 1):
        shift = timedelta(days=days)
        for w in await windows(conn, since - shift, until - shift, orgs={w.org_id for w in now},
                               new_numbers_of=probe_days):
            baseline[w.org_id].append(w)
    return pumping.detect(now, baseline, since=since, until=until)
