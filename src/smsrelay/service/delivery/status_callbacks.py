"""Twilio's status callbacks: store each distinct event once, apply it through the lattice.

One statement per callback (store/queries/delivery.sql apply_status_callback): it finds the
message, stores the event, applies the status with the lattice's SQL twin and records an
opt-out, so a callback costs one round trip and holds the row lock only while it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import status as lattice
from smsrelay.service.delivery.status_updates import error_metadata
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
    meta: dict[str, Any] = {}
    if error_code and error_code != "0":
        meta = error_metadata(error_code, params.get("ErrorMessage"))
    result = await sql.one(conn, "apply_status_callback", message_id=message_id or None, sid=sid,
                           status=new_status, error_code=error_code, token=idempotency_token,
                           payload=dict(params), metadata=meta)
    assert result is not None
    if not result["stored"]:
        return "duplicate"
    if not result["found"]:
        log.warning("status callback for unknown message sid=%s", sid)
        return "unknown-message"
    return "applied" if result["applied"] else "stale"
