"""What each org cost: usage by day, destination and channel (Twilio's price where fetched, the
estimate otherwise), and its reconciliation with Twilio's own usage records for the same days."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import spend
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql


def checked_range(raw_from: str | None, raw_to: str | None, *, default_days: int = 30) -> tuple[date, date]:
    """[from, to] in UTC days from the query string; 400 invalid_usage_range otherwise."""
    try:
        return spend.usage_range(spend.parse_day(raw_from, "from"), spend.parse_day(raw_to, "to"),
                                 datetime.now(timezone.utc).date(), default_days=default_days)
    except spend.RangeError as exc:
        raise problems.INVALID_USAGE_RANGE(message=str(exc), reason=exc.reason) from None


def since_range(since: str) -> tuple[date, date]:
    try:
        days = spend.parse_since(since)
    except spend.RangeError as exc:
        raise problems.INVALID_USAGE_RANGE(message=str(exc), reason=exc.reason) from None
    return checked_range(None, None, default_days=days)


async def rows(conn: AsyncConnection, org_id: str | None, start: date, end: date) -> list[dict[str, Any]]:
    lo, hi = spend.day_bounds(start, end)
    return await sql.all(conn, "usage_rows", org_id=org_id, start=lo, end=hi)


async def usage(conn: AsyncConnection, org_id: str | None, start: date, end: date) -> dict[str, Any]:
    """One org's usage (or every org's, by org, with org_id None) over [start, end]."""
    found = await rows(conn, org_id, start, end)
    out: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat(), **spend.summarise(found)}
    if org_id is not None:
        return {"orgId": org_id, **out}
    orgs = sorted({r["orgId"] for r in found})
    out["byOrg"] = [{"orgId": o, **{k: v for k, v in spend.summarise([r for r in found if r["orgId"] == o]).items()
                                    if k in ("messages", "segments", "cost", "billed", "estimated", "unpricedMessages")}}
                    for o in orgs]
    return out


async def reconcile(rt: Runtime, start: date, end: date) -> dict[str, Any]:
    """Our billed totals per day and category beside Twilio's usage records; `matches` is false
    if any day differs in messages, segments or price."""
    async with rt.pool.connection() as conn:
        ours = await rows(conn, None, start, end)
    theirs = []
    for category in sorted(set(spend.CATEGORY_OF_CHANNEL.values())):
        theirs += await rt.gateway.usage_records(category, start, end)
    days = spend.reconcile(ours, theirs)
    return {"from": start.isoformat(), "to": end.isoformat(), "matches": all(d["matches"] for d in days),
            "differences": [d for d in days if not d["matches"]], "days": days}
