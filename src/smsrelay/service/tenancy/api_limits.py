"""Per-API-key request limits, counted in PostgreSQL so every API process shares them."""

from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay.service.outbound import channels as outbound_channels
from smsrelay.service.outbound import messages
from smsrelay.service.outbound.channels import PLAIN, Extras
from smsrelay.service.tenancy import orgs
from smsrelay.service.tenancy.cache import TenancyCache
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql

WINDOW_SECONDS = 60

# A key's minute is counted in several "RateCounter" rows, one picked at random per request, and
# checked against their sum. One row per key would be a lock every request of that key queues
# on, and a single send holds it until its commit has flushed the WAL of the message it stored
# (the counter table is UNLOGGED, the message is not). Concurrent requests do not see each
# other's uncommitted increments, so the limit may be passed by the requests in flight at once.
SHARDS = tuple([""] + [f":{n}" for n in range(1, 8)])


def _counter() -> dict[str, object]:
    shard = random.choice(SHARDS)
    return {"shard": shard, "other_shards": [s for s in SHARDS if s != shard]}


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
    row = await sql.one(conn, "authenticate_and_count", key_hash=orgs.hash_key(api_key), window=window, **_counter())
    if row is None:
        return None
    if row["count"] > per_minute:
        raise _limited(now, window, per_minute)
    return row


def _limited(now: datetime, window: datetime, per_minute: int) -> Problem:
    retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - window).total_seconds()))
    return problems.RATE_LIMITED(per_minute=per_minute, retryAfter=retry_after)


# Rounds of a single send whose cached org proved stale before the transactional accept decides.
_STALE_ROUNDS = 2


async def accept_with_key(conn: AsyncConnection, cache: TenancyCache, api_key: str, org_id: str, per_minute: int, *,
                          to: str, body: str, from_: str | None, idempotency_key: str | None,
                          now: datetime | None = None, metadata: dict | None = None,
                          status_callback: str | None = None, extras: Extras = PLAIN) -> tuple[int, dict] | None:
    """POST /v1/messages for a bearer key, counted against its minute as authenticate() counts,
    in one round trip when the key and its org are cached (messages.plan / accept_message /
    settle); `org_id` is the key's, as the cache had it. None: unknown or revoked key (the
    statement checks it again, whatever the cache says)."""
    now = now or datetime.now(timezone.utc)
    window = now.replace(second=0, microsecond=0)
    key_hash = orgs.hash_key(api_key)
    org = await cache.org(conn, org_id)
    if not org:
        return None
    kwargs = dict(to=to, body=body, from_=from_, idempotency_key=idempotency_key, metadata=metadata,
                  status_callback=status_callback, extras=extras)
    counter = _counter()
    for round_ in range(_STALE_ROUNDS):
        plan = messages.plan(org, key_hash=key_hash, window=window, increment=0 if round_ else 1,
                             per_minute=per_minute, counter=counter, **kwargs)
        await outbound_channels.window_in_plan(conn, plan, org["id"], now)
        row = await messages.run(conn, plan, org["id"])
        if row is None or isinstance(row, tuple):
            return row
        if row["count"] > per_minute:
            raise _limited(now, window, per_minute)
        answer = messages.settle(plan, row)
        if answer == messages.STALE:
            org = await cache.org(conn, org_id, fresh=True)
            if not org:
                return None
            continue
        if answer != messages.CAPPED:
            return answer
        break
    # A capped org (or settings changing under us twice): today's transaction, already counted.
    return await messages.accept_idempotent(conn, org["id"], **kwargs)
