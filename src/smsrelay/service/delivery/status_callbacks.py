"""Twilio's status callbacks: store each distinct event once, apply it through the lattice."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import status as lattice
from smsrelay.service.delivery.status_updates import advance, error_metadata
from smsrelay.store import sql

log = logging.getLogger(__name__)


async def apply_status_callback(conn: AsyncConnection, params: Mapping[str, str], *, message_id: str | None,
                                idempotency_token: str | None) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid")
    new_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
    if not sid or not new_status:
        return "ignored:incomplete"
    try:
        lattice.rank(new_status)
    except ValueError:
        return "ignored:unknown-status"
    error_code = params.get("ErrorCode") or None
    async with conn.transaction():
        row = None
        if message_id:
            row = await sql.one(conn, "lock_message", id=message_id)
            if row is not None and row["twilioSid"] not in (None, sid):
                # The URL names one message and the sid another: trust neither blindly.
                row = None
        if row is None:
            row = await sql.one(conn, "lock_message_by_sid", sid=sid)
        stored = await sql.one(conn, "insert_event", message_id=row["id"] if row else None, sid=sid,
                               status=new_status, error_code=error_code, token=idempotency_token,
                               payload=dict(params))
        if stored is None:
            return "duplicate"
        if row is None:
            log.warning("status callback for unknown message sid=%s", sid)
            return "unknown-message"
        meta: dict[str, Any] = {}
        if error_code and error_code != "0":
            meta.update(error_metadata(error_code, params.get("ErrorMessage")))
        updated = await advance(conn, row, new_status, twilio_sid=sid, metadata=meta)
        if error_code == "21610" and updated["status"] == new_status:
            await sql.execute(conn, "insert_opt_out", org_id=row["orgId"], phone=row["to"], source="twilio:21610")
        return "applied" if updated["status"] == new_status and row["status"] != new_status else "stale"
