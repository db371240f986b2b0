"""Scheduled sends: held by us, in status `scheduled`, until their "sendAt".

Accept stores the message `scheduled` with its "SendQueue" row due at "sendAt", so the worker's
ordinary claim finds it at its time and nothing else has to watch the clock; a restart loses
nothing (the row is in PostgreSQL) and sends nothing twice (the release below is one conditional
UPDATE, and from then on it is an ordinary queued send with its in-flight marker). Because the
message is only released at its time, the guards (kill switch, pause, org switches, throttle) and
the validity period (counted from "sendAt") are judged then, not at accept.

A message can be canceled while nothing has been handed to Twilio: `scheduled`, or `queued`
without an in-flight marker (mark_in_flight requires `queued`, so a run racing the cancel stops).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.service import jobs, problems
from smsrelay.service.delivery.status_updates import advance
from smsrelay.service.outbound import throttle
from smsrelay.store import sql

# A run that comes this close to "sendAt" (a claim a moment early) releases the message.
EARLY_SECONDS = 1.0

RELEASED, NOT_YET, GONE = "released", "not-yet", "gone"


async def release(conn: AsyncConnection, row: dict[str, Any]) -> str:
    """For dispatch, on a `scheduled` message: RELEASED (now `queued`, go on), NOT_YET (its run
    came early, e.g. a release of holds: due again at "sendAt") or GONE (canceled meanwhile)."""
    async with conn.transaction():
        released = await sql.one(conn, "release_scheduled", id=row["id"], early=EARLY_SECONDS)
        if released is not None:
            return RELEASED
        current = await sql.one(conn, "lock_message", id=row["id"])
        if current is None or current["status"] != "scheduled":
            return GONE if current is None or current["status"] != "queued" else RELEASED
        await jobs.enqueue_send(conn, row["id"], at=current["sendAt"])
        return NOT_YET


def cancelable(row: dict[str, Any]) -> bool:
    meta = row["metadata"] or {}
    if row["direction"] != "outbound" or row["twilioSid"]:
        return False
    if row["status"] == "scheduled":
        return True
    return row["status"] == "queued" and not meta.get("inFlight") and meta.get("outcome") != "unknown"


async def cancel(conn: AsyncConnection, org_id: str, message_id: str) -> dict[str, Any]:
    """POST /v1/messages/{id}/cancel: the message, now `canceled`; 409 once it may be at Twilio."""
    async with conn.transaction():
        row = await sql.one(conn, "lock_org_message", id=message_id, org_id=org_id)
        if row is None:
            raise problems.NOT_FOUND(what="message")
        if row["status"] == "canceled":
            return row  # canceling twice answers the same
        if not cancelable(row):
            raise problems.MESSAGE_NOT_CANCELABLE(message_id=message_id, messageStatus=row["status"])
        updated = await advance(conn, row, "canceled", metadata={
            "hold": None, "throttled": None, "canceledAt": datetime.now(timezone.utc).isoformat()})
        await sql.execute(conn, "unqueue_canceled", id=message_id)
        await throttle.forget(conn, message_id)
        return updated


async def counts(conn: AsyncConnection, org_id: str) -> list[dict[str, Any]]:
    return await sql.all(conn, "scheduled_counts", org_id=org_id)
