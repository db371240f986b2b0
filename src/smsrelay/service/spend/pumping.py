"""The pumping signal's facts: each org's window of traffic and the same window on the 7
earlier days (domain/pumping.py decides). Read by the alert engine and by the diagnosis.

The never-seen numbers cost one index probe per number sent to, and the earlier days eight
times that: they are counted only for the orgs whose window can use them, and the earlier days
read only for the orgs whose window can be flagged at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from smsrelay.domain import pumping
from smsrelay.store import sql

BASELINE_DAYS = 7


async def _windows(conn: AsyncConnection, since: datetime, until: datetime,
                   orgs: Collection[str] | None = None) -> dict[str, pumping.Window]:
    """Each org's window (of `orgs` only, when given), its never-seen numbers not counted."""
    rows = await sql.all(conn, "pumping_window", since=since, until=until, high=pumping.HIGH_PRICE,
                         orgs=None if orgs is None else sorted(orgs))
    acc: dict[str, dict] = defaultdict(lambda: {"messages": 0, "cost": 0.0, "high_price": 0, "high_by_country": {}})
    for r in rows:
        a = acc[r["orgId"]]
        a["messages"] += r["messages"]
        a["cost"] += r["cost"]
        a["high_price"] += r["highPrice"]
        if r["highPrice"]:
            a["high_by_country"][r["country"]] = r["highPrice"]
    return {org_id: pumping.Window(org_id, **a) for org_id, a in sorted(acc.items())}


async def _with_new_numbers(conn: AsyncConnection, since: datetime, until: datetime,
                            windows: dict[str, pumping.Window], orgs: Collection[str]) -> dict[str, pumping.Window]:
    """`windows` with the never-seen numbers of `orgs` counted (the dear read)."""
    probe = sorted(set(orgs) & set(windows))
    if not probe:
        return windows
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for r in await sql.all(conn, "pumping_new_numbers", since=since, until=until, orgs=probe):
        if r["newNumbers"]:
            counts[r["orgId"]][r["country"]] = r["newNumbers"]
    return {org_id: replace(w, new_numbers=sum(counts[org_id].values()), new_by_country=counts[org_id])
            if org_id in counts else w for org_id, w in windows.items()}


async def signals(conn: AsyncConnection, since: datetime, until: datetime) -> list[pumping.Signal]:
    """Orgs whose window jumps above their own same window on the earlier days."""
    if not (await sql.one(conn, "pumping_prices_known"))["known"]:
        return []
    now = {o: w for o, w in (await _windows(conn, since, until)).items() if pumping.could_signal(w)}
    if not now:
        return []
    now = await _with_new_numbers(conn, since, until, now, [o for o, w in now.items() if pumping.needs_new_numbers(w)])
    probe_days = [o for o, w in now.items() if pumping.needs_baseline_new_numbers(w)]
    baseline: dict[str, list[pumping.Window]] = defaultdict(list)
    for days in range(1, BASELINE_DAYS + 1):
        shift = timedelta(days=days)
        earlier = await _windows(conn, since - shift, until - shift, orgs=now)
        for w in (await _with_new_numbers(conn, since - shift, until - shift, earlier, probe_days)).values():
            baseline[w.org_id].append(w)
    return pumping.detect(list(now.values()), baseline, since=since, until=until)
