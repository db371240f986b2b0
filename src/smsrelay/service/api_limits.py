"""Per-API-key request limits, counted in PostgreSQL so every API process shares them."""

from __future__ import annotations

import math
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay.service.problems import Problem
from smsrelay.store import sql

WINDOW_SECONDS = 60


async def count_request(conn: AsyncConnection, key_id: str, per_minute: int, *, now: datetime | None = None) -> None:
    """Count one request; raise 429 with Retry-After once the key is over its minute."""
    now = now or datetime.now(timezone.utc)
    window = now.replace(second=0, microsecond=0)
    row = await sql.one(conn, "count_request", key=f"api:{key_id}", window=window)
    if row["count"] > per_minute:
        retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - window).total_seconds()))
        raise Problem(429, "rate_limited", f"This API key is limited to {per_minute} requests a minute.",
                      retryAfter=retry_after)
