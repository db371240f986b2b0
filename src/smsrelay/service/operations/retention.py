"""Message content retention: bodies are purged after N days; rows and metadata stay."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

BATCH = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


async def purge_content(rt: Runtime, *, now: datetime | None = None, max_batches: int = 20) -> int:
    """Purge bodies older than CONTENT_RETENTION_DAYS; returns how many were purged.

    Where the last run stopped is kept in the process (the scheduler leader): after a restart
    the first runs walk the already-purged history again, a few cheap index batches per tick."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=rt.settings.content_retention_days)
    horizons: dict[str, datetime] = rt.extras.setdefault("purge_horizons", {})
    purged = 0
    async with rt.pool.connection() as conn:
        for direction in ("outbound", "inbound"):
            horizon = horizons.get(direction, EPOCH)
            for _ in range(max_batches):
                async with conn.transaction():
                    result = await sql.one(conn, "purge_content", direction=direction, horizon=horizon,
                                           cutoff=cutoff, limit=BATCH)
                purged += result["purged"]
                if result["scanned"] < BATCH:
                    horizon = cutoff
                    break
                horizon = result["reached"]
            horizons[direction] = horizon
        await sql.execute(conn, "forget_old_counters")
    return purged
