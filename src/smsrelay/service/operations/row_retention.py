"""Row retention: messages older than MESSAGE_RETENTION_DAYS leave "MessageLog" with their
callbacks and events, a small batch per short transaction (never one long DELETE, never a
table lock), optionally written out first to MESSAGE_EXPORT_DIR.

The export is a folder per UTC day of creation, one gzip file of newline-delimited JSON per
batch (each line a "MessageLog" row with its "events": Twilio's callbacks). A batch's file is
written under a temporary name, fsynced and renamed before the batch's transaction commits, so
a row is never deleted without being on disk; a crash between the rename and the commit leaves
the rows in place, and the next run writes the same batch again under the same name (the name
is the batch's first row), so a line is at most repeated, which readers de-duplicate by "id".

The hourly rollup keeps the deleted hours' counts (retention_delete_batch), so windows longer
than the retention still count every message.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

# Small enough that a batch's transaction holds its row locks for tens of milliseconds, large
# enough that a million rows a day leave in a thousand statements (docs/benchmarks.md).
BATCH = 1000
DIRECTIONS = ("outbound", "inbound")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class RetentionRun:
    cutoff: datetime
    dry_run: bool
    expired: int = 0  # rows past the cutoff when the run started
    kept: int = 0  # of them, rows kept for now (dry run only)
    deleted: int = 0
    callbacks: int = 0
    events: int = 0
    orphans: int = 0  # callbacks and events of no message (an unknown sid, a test event)
    files: list[str] = field(default_factory=list)
    by_day: list[tuple[date, int]] = field(default_factory=list)


async def cutoff_for(rt: Runtime, days: int) -> datetime:
    """Measured on the database's clock, which stamped "createdAt"."""
    async with rt.pool.connection() as conn:
        now = (await sql.one(conn, "database_now"))["now"]
    return now - timedelta(days=days)


async def expired(rt: Runtime, cutoff: datetime) -> list[tuple[date, int]]:
    async with rt.pool.connection() as conn:
        return [(r["day"], r["rows"]) for r in await sql.all(conn, "retention_expired_by_day", cutoff=cutoff)]


async def run_retention(rt: Runtime, *, dry_run: bool = False, max_batches: int | None = None,
                        on_batch: Callable[[int], Any] | None = None, count_first: bool = True) -> RetentionRun | None:
    """One run; None when MESSAGE_RETENTION_DAYS is unset (rows are kept forever).

    `max_batches` bounds a scheduler round (its deadline); the CLI goes on until nothing is left.
    `on_batch(n)` is told each batch's deleted rows (the progress bar)."""
    days = rt.settings.message_retention_days
    if days is None:
        return None
    run = RetentionRun(cutoff=await cutoff_for(rt, days), dry_run=dry_run)
    if count_first or dry_run:
        run.by_day = await expired(rt, run.cutoff)
        run.expired = sum(n for _, n in run.by_day)
    if dry_run:
        async with rt.pool.connection() as conn:
            run.kept = (await sql.one(conn, "retention_kept_for_now", cutoff=run.cutoff))["kept"]
        return run
    export_dir = rt.settings.message_export_dir
    horizons: dict[str, datetime] = rt.extras.setdefault("retention_horizons", {})
    batches = 0
    async with rt.pool.connection() as conn:
        for direction in DIRECTIONS:
            horizon = horizons.get(direction, EPOCH)
            skipped: datetime | None = None  # the oldest row skipped because it was kept or locked
            while max_batches is None or batches < max_batches:
                batches += 1
                async with conn.transaction():
                    result = await sql.one(conn, "retention_delete_batch", direction=direction, horizon=horizon,
                                           cutoff=run.cutoff, limit=BATCH, export=export_dir is not None)
                    if export_dir is not None and result["rows"]:
                        run.files += await _export(export_dir, direction, result["rows"])
                run.deleted += result["deleted"]
                run.callbacks += result["callbacks"]
                run.events += result["events"]
                if skipped is None:
                    skipped = result["first_skipped"]
                if on_batch is not None:
                    on_batch(result["deleted"])
                if result["scanned"] < BATCH:
                    horizon = run.cutoff
                    break
                horizon = result["reached"]
            # A row kept for now or locked is looked at again by the next run, from where it lies.
            horizons[direction] = skipped if skipped is not None else horizon
        left = None if max_batches is None else max(0, max_batches - batches)
        left = await _orphans(conn, "retention_orphan_callbacks", run, horizons, left)
        await _orphans(conn, "retention_orphan_events", run, horizons, left)
    return run


async def _orphans(conn: Any, query: str, run: RetentionRun, horizons: dict, batches: int | None) -> int | None:
    """Walk one table's rows of no message by id from this process's horizon; returns the batches left."""
    at = horizons.get(query, 0)
    while batches is None or batches > 0:
        batches = None if batches is None else batches - 1
        async with conn.transaction():
            result = await sql.one(conn, query, horizon=at, cutoff=run.cutoff, limit=BATCH)
        run.orphans += result["deleted"]
        at = result["reached"] if result["reached"] is not None else at
        if result["done"] or result["scanned"] < BATCH:
            break
    horizons[query] = at
    return batches


async def _export(root: Path, direction: str, rows: list[dict]) -> list[str]:
    import asyncio

    return await asyncio.to_thread(write_export, root, direction, rows)


def write_export(root: Path, direction: str, rows: list[dict]) -> list[str]:
    """One file per UTC day the batch spans, durable before the caller commits the delete."""
    by_day: dict[str, list[dict]] = {}
    for row in rows:
        created = datetime.fromisoformat(row["createdAt"]).astimezone(timezone.utc)
        by_day.setdefault(created.date().isoformat(), []).append(row)
    written = []
    for day, day_rows in by_day.items():
        folder = root / day
        folder.mkdir(parents=True, exist_ok=True)
        first = day_rows[0]["id"]
        path = folder / f"{direction}-{first}.ndjson.gz"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
                for row in day_rows:
                    out.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
        written.append(str(path))
    return written


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_export(root: Path, org_id: str | None = None) -> list[dict]:
    """Every exported row (de-duplicated by id), optionally one org's: an org's history on request."""
    seen: dict[str, dict] = {}
    for path in sorted(root.glob("*/*.ndjson.gz")):
        with gzip.open(path, "rt") as lines:
            for line in lines:
                row = json.loads(line)
                if org_id is None or row["orgId"] == org_id:
                    seen[row["id"]] = row
    return sorted(seen.values(), key=lambda r: (r["createdAt"], r["id"]))
