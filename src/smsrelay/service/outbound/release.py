"""Releasing held messages once their guard lifts, oldest first."""

from __future__ import annotations

from smsrelay.service.outbound import guards
from smsrelay.service import jobs
from smsrelay.service.spend import caps as spend_caps
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

RELEASE_LOCK = 7361002
BATCH = 500
# Per call (one maintenance tick): a large backlog goes into the queue in a few seconds, in
# short transactions, without one call holding the lock for minutes.
MAX_BATCHES = 20


async def release_held(rt: Runtime) -> int:
    """Enqueue a send for each releasable held message; returns how many. Safe to run from
    every worker at once: one takes the lock, and rows are claimed with SKIP LOCKED. A released
    message's hold is cleared in the same transaction that enqueues its one job, so it is
    released exactly once."""
    if not rt.settings.feature_sms_enabled:
        return 0
    total = await spend_caps.release_spend_holds(rt)
    for _ in range(MAX_BATCHES):
        released = await _release_batch(rt)
        total += released
        if released < BATCH:
            break
    return total


async def _release_batch(rt: Runtime) -> int:
    async with rt.pool.connection() as conn, conn.transaction():
        if not (await sql.one(conn, "try_lock", key=RELEASE_LOCK))["locked"]:
            return 0
        if await guards.paused(conn):
            return 0
        rows = await sql.all(conn, "releasable_messages", limit=BATCH)
        for row in rows:
            await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"hold": None})
            await jobs.enqueue_send(conn, row["id"])
    return len(rows)
