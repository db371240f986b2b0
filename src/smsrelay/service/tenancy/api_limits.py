"""Per-API-key request limits, counted in PostgreSQL so every API process shares them."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay.service.tenancy import orgs
from smsrelay.service import problems
from smsrelay.store import sql

WINDOW_SECONDS = 60


async def authenticate(conn: AsyncConnection, api_key: str, per_minute: int, *,
                       now: datetime | None = None) -> dict | None:
    """The key's row ({"id", "orgId"}), None for an unknown or revoked key; the request is counted
    against the key's minute, and 429 (with Retry-After) raised once it is over."""
    now = now or datetime.now(timezone.utc)
    window = now.replace(second=0, microsecond=0)
    row = await sql.one(conn, "authenticate_and_count", key_hash=orgs.hash_key(api_key), window=window)
    if row is None:
        return None
    if row["count"] > per_minute:
        retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - window).total_seconds()))
        raise problems.RATE_LIMITED(per_minute=per_minute, retryAfter=retry_after)
    return row
