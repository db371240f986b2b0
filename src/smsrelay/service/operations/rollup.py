"""Window counts that stay cheap over a week: whole hours from "MessageRollup", the rest raw.

"MessageRollup" (migration 0007) counts messages per hour of creation, direction, org,
current status and (since 0026) channel; a trigger keeps it exact and the scheduler folds its deltas. Every window here
is (since, until]; callers with a half-open [since, until) window shift both ends back by one
microsecond, PostgreSQL's resolution, which is the same set of rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import rates
from smsrelay.domain import status as lattice
from smsrelay.store import sql

HOUR = timedelta(hours=1)
# smsrelay_hour() bins from this origin; so must we.
ORIGIN = datetime(2000, 1, 1, tzinfo=timezone.utc)


def floor(at: datetime, step: timedelta = HOUR) -> datetime:
    """The start of `at`'s bucket of `step`, binned from ORIGIN as date_bin() is in SQL."""
    return ORIGIN + ((at - ORIGIN) // step) * step


def split(since: datetime, until: datetime, bucket: timedelta | None = None) -> dict[str, datetime]:
    """The rollup's hours [lo, hi) inside (since, until]; lo = hi = until when none fits whole.

    With a bucket that is not a whole number of hours, an hour could straddle two buckets, so
    the window is read from "MessageLog" alone.
    """
    lo, hi = floor(since) + HOUR, floor(until)
    if lo >= hi or (bucket is not None and bucket % HOUR):
        lo = hi = until
    return {"since": since, "until": until, "lo": lo, "hi": hi}


async def outcomes(conn: AsyncConnection, since: datetime, until: datetime, *, direction: str = "outbound",
                   org_id: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
    """(orgId, status, count) of messages created in (since, until], of one channel if given."""
    return await sql.all(conn, "window_outcomes", direction=direction, org_id=org_id, channel=channel,
                         **split(since, until))


def by_org(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """outcomes() rows → the runbook's step-4 columns per org; a WhatsApp message `read` was
    delivered first (domain/rates.py), so it counts as delivered."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        o = out.setdefault(r["orgId"], {"total": 0, "delivered": 0, "failed": 0, "undelivered": 0, "open": 0})
        o["total"] += r["count"]
        if r["status"] in rates.DELIVERED:
            o["delivered"] += r["count"]
        elif r["status"] in ("failed", "undelivered"):
            o[r["status"]] += r["count"]
        elif not lattice.is_final(r["status"]):
            o["open"] += r["count"]
    return out


async def series(conn: AsyncConnection, since: datetime, until: datetime, bucket: timedelta, *,
                 org_id: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
    """(at, direction, status, count) per bucket (binned from ORIGIN) over (since, until]."""
    return await sql.all(conn, "window_series", bucket=bucket, org_id=org_id, channel=channel,
                         **split(since, until, bucket))


async def error_hits(conn: AsyncConnection, since: datetime, until: datetime, *,
                     channel: str | None = None) -> list[dict[str, Any]]:
    """(code, orgId, from, status, count, last_at) of outbound failures created in (since, until]."""
    return await sql.all(conn, "window_error_hits", channel=channel, **split(since, until))


async def fold(conn: AsyncConnection) -> int:
    """Deltas into the rollup; then drop the recent hours' rows that have emptied (the 'queued'
    of an hour whose messages have all moved on), so the table keeps about one row per status
    actually present."""
    folded = await sql.execute(conn, "rollup_fold")
    await sql.execute(conn, "rollup_prune")
    return folded
