"""A per-org daily send cap: the spend guard against SMS pumping (OWASP API4), where a stolen
key or an abused sign-up form sends to premium numbers until the bill arrives.

The cap ("dailySendCap") is in segments, as Twilio bills: a 1,600-character UCS-2 message is
24 of them, and counting it as one would let a long-message attacker spend 24 times the cap."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql


async def check_daily_cap(conn: AsyncConnection, org: dict[str, Any], segments: int, *,
                          now: datetime | None = None) -> None:
    """Inside the accepting transaction: refuse with 429 a message whose segments do not fit in
    what is left of today's (UTC) cap."""
    remaining = await remaining_today(conn, org, now=now)
    if remaining is not None and segments > remaining:
        raise cap_reached(org, segments=segments, remaining=remaining, now=now)


async def remaining_today(conn: AsyncConnection, org: dict[str, Any], *, now: datetime | None = None) -> int | None:
    """How many more segments the org may send today (UTC), None without a cap. Takes the org's
    cap lock, so the answer holds until the accepting transaction ends."""
    cap = org.get("dailySendCap")
    if not cap:
        return None
    now = now or datetime.now(timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    await sql.one(conn, "lock_daily_cap", org_id=org["id"])
    used = (await sql.one(conn, "outbound_segments_since", org_id=org["id"], since=day))["n"]
    return cap - used


def cap_reached(org: dict[str, Any], *, segments: int, remaining: int, now: datetime | None = None) -> Problem:
    now = now or datetime.now(timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    retry_after = math.ceil((day + timedelta(days=1) - now).total_seconds())
    variant = "partial" if remaining > 0 else None
    return problems.DAILY_CAP_REACHED(variant, cap=org["dailySendCap"], retryAfter=retry_after, segments=segments,
                                      remainingSegments=max(remaining, 0))
