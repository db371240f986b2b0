"""Retention: message bodies, callback payloads and idempotency keys are purged after
CONTENT_RETENTION_DAYS; message rows, their metadata and event rows stay until
MESSAGE_RETENTION_DAYS, if it is set (row_retention.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsrelay.service.operations import row_retention
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

BATCH = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Row batches per scheduler round: a few seconds of deletes; the next round (30 s on) carries on.
ROW_BATCHES_PER_ROUND = 200


async def retention_duty(rt: Runtime) -> dict[str, int]:
    """The scheduler's round: content first (it may have a shorter horizon), then rows."""
    purged = await purge_content(rt)
    run = await row_retention.run_retention(rt, max_batches=ROW_BATCHES_PER_ROUND, count_first=False)
    return {"purged": purged, "deleted": run.deleted if run else 0}


async def purge_content(rt: Runtime, *, now: datetime | None = None, max_batches: int = 20) -> int:
    """Purge everything past retention; returns how many message bodies were purged.

    Where the last run stopped is kept in the process (the scheduler leader): after a restart
    the first runs walk the already-purged history again, a few cheap index batches per tick.
    A row locked by a writer is skipped, and the kept horizon never passes it: the next run
    starts again there."""
    now = now or datetime.now(timezone.utc)
    # Nothing outlives its row: idempotency keys naming a deleted message go with it.
    days = min(rt.settings.content_retention_days, rt.settings.message_retention_days or rt.settings.content_retention_days)
    cutoff = now - timedelta(days=days)
    horizons: dict[str, datetime] = rt.extras.setdefault("purge_horizons", {})
    purged = 0
    async with rt.pool.connection() as conn:
        for direction in ("outbound", "inbound"):
            horizon = horizons.get(direction, EPOCH)
            skipped: datetime | None = None  # the first row skipped because it was locked
            for _ in range(max_batches):
                async with conn.transaction():
                    result = await sql.one(conn, "purge_content_batch", direction=direction, horizon=horizon,
                                           cutoff=cutoff, limit=BATCH)
                purged += result["purged"]
                if skipped is None:
                    skipped = result["first_skipped"]
                if result["scanned"] < BATCH:
                    horizon = cutoff
                    break
                horizon = result["reached"]
            # The scan went on past a locked row; the next run starts again from it.
            horizons[direction] = skipped if skipped is not None else horizon
        for _ in range(max_batches):
            async with conn.transaction():
                if await sql.execute(conn, "purge_event_payloads", cutoff=cutoff, limit=BATCH) < BATCH:
                    break
        for _ in range(max_batches):
            async with conn.transaction():
                if await sql.execute(conn, "purge_idempotency_keys", cutoff=cutoff, limit=BATCH) < BATCH:
                    break
        for _ in range(max_batches):
            # An inbound event's snapshot holds the text: it goes with the message's content.
            if await sql.execute(conn, "purge_received_event_bodies", cutoff=cutoff, limit=BATCH) < BATCH:
                break
        await sql.execute(conn, "forget_old_counters")
    return purged
