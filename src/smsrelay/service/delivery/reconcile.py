"""Asking Twilio about messages whose final status never arrived (callbacks can be lost).

Every message checked is stamped `metadata.reconciledAt`, whatever Twilio answered (or failed
to answer), and batches take never-checked rows first: messages that stay `sent` for days
(carriers without delivery reports) cannot starve newer ones, and one run goes through every
eligible row, batch after batch, until done or stopped by the scheduler's deadline. The next
run carries on where a stopped one left off, since the stamps are committed row by row.
"""

from __future__ import annotations

import logging

from smsrelay.service.delivery.status_updates import advance, error_metadata
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError

log = logging.getLogger(__name__)

BATCH = 200
# A row Twilio keeps answering `sent` for is asked about again no sooner than this.
RECHECK_SECONDS = 3600
# Twilio unreachable this many times in a row: the rest waits for the next run, not for a
# timeout per message.
MAX_CONSECUTIVE_UNREACHABLE = 5


async def reconcile_open_messages(rt: Runtime, *, older_than_seconds: int = 3600, limit: int = BATCH,
                                  recheck_seconds: int = RECHECK_SECONDS) -> int:
    """Returns how many messages changed status."""
    async with rt.pool.connection() as conn:
        run_started = (await sql.one(conn, "database_now"))["now"]
    stamp = run_started.isoformat()
    updated = 0
    unreachable = 0
    while True:
        async with rt.pool.connection() as conn:
            rows = await sql.all(conn, "reconcile_batch", older_than=older_than_seconds, recheck=recheck_seconds,
                                 run_started=run_started, limit=limit)
        for row in rows:
            found = None
            try:
                found = await rt.gateway.fetch_message(row["twilioSid"])
                unreachable = 0
            except TwilioError as exc:
                if exc.http_status is not None:  # Twilio answered (e.g. 404): this row only
                    log.warning("reconcile: cannot fetch %s: %s", row["twilioSid"], exc)
                else:
                    unreachable += 1
                    log.warning("reconcile: Twilio unreachable for %s: %s", row["twilioSid"], exc)
                    if unreachable >= MAX_CONSECUTIVE_UNREACHABLE:
                        log.warning("reconcile: Twilio unreachable %d times in a row; the rest waits for the next run",
                                    unreachable)
                        return updated
            except Exception:  # noqa: BLE001 - one odd answer must not stop the others' reconciliation
                log.exception("reconcile: checking %s failed", row["twilioSid"])
            async with rt.pool.connection() as conn, conn.transaction():
                locked = await sql.one(conn, "lock_message", id=row["id"])
                if found is None:
                    await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"reconciledAt": stamp})
                    continue
                after = await advance(conn, locked, found["status"], metadata={
                    **error_metadata(found["error_code"], found["error_message"]), "reconciled": True,
                    "reconciledAt": stamp})
                updated += after["status"] != locked["status"]
        if len(rows) < limit:
            return updated
