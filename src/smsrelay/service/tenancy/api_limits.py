"""Per-API-key request limits, counted in PostgreSQL so every API process shares them."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay.service.tenancy import orgs
from smsrelay.service import problems
from smsrelay.store import sql

WINDOW_SECONDS = 60


class UnknownKeys:
    """Well-formed keys the database just said are unknown or revoked, remembered for a while
    so that repeating one costs no round trip. Only refusals are remembered: a revocation takes
    effect at once. Bounded (oldest forgotten first), keyed by hash, per API process."""

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000):
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._until: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, api_key: str) -> bool:
        digest = orgs.hash_key(api_key)
        until = self._until.get(digest)
        if until is None:
            return False
        if until < time.monotonic():
            del self._until[digest]
            return False
        return True

    def add(self, api_key: str) -> None:
        digest = orgs.hash_key(api_key)
        self._until[digest] = time.monotonic() + self.ttl
        self._until.move_to_end(digest)
        while len(self._until) > self.max_entries:
            self._until.popitem(last=False)


def refused_without_lookup(api_key: str, unknown: UnknownKeys) -> bool:
    """A key that cannot be one we issued, or one just found unknown, needs no database."""
    return not orgs.could_be_key(api_key) or api_key in unknown


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
