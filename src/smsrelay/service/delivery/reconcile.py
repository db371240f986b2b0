"""Asking Twilio about messages whose final status never arrived (callbacks can be lost)."""

from __future__ import annotations

import logging

from smsrelay.service.runtime import Runtime
from smsrelay.service.delivery.status_updates import advance, error_metadata
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError

log = logging.getLogger(__name__)


async def reconcile_open_messages(rt: Runtime, *, older_than_seconds: int = 3600, limit: int = 200) -> int:
    async with rt.pool.connection() as conn:
        rows = await sql.all(conn, "stale_open_messages", older_than=older_than_seconds, limit=limit)
    updated = 0
    for row in rows:
        try:
            found = await rt.gateway.fetch_message(row["twilioSid"])
        except TwilioError as exc:
            log.warning("reconcile: cannot fetch %s: %s", row["twilioSid"], exc)
            continue
        async with rt.pool.connection() as conn, conn.transaction():
            locked = await sql.one(conn, "lock_message", id=row["id"])
            after = await advance(conn, locked, found["status"], metadata={
                **error_metadata(found["error_code"], found["error_message"]), "reconciled": True})
            updated += after["status"] != locked["status"]
    return updated
