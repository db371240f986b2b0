"""Twilio's status callbacks: store each distinct event once, apply it through the lattice.

One statement per callback (store/queries/delivery.sql apply_status_callback): it finds the
message, stores the event, applies the status with the lattice's SQL twin and records an
opt-out, so a callback costs one round trip and holds the row lock only while it runs.
apply_status_callbacks does the same for several callbacks at once (callback_batches.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from smsrelay.domain import status as lattice
from smsrelay.service.delivery.status_updates import error_metadata
from smsrelay.store import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Callback:
    message_id: str | None
    sid: str
    status: str
    error_code: str | None
    token: str | None
    payload: dict[str, str]
    metadata: dict[str, Any]


def parse(params: Mapping[str, str], *, message_id: str | None, idempotency_token: str | None) -> Callback | str:
    """The callback to apply, or why it is ignored."""
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
    return Callback(message_id or None, sid, new_status, error_code, idempotency_token, dict(params), meta)


def _result(callback: Callback, stored: bool, found: bool, applied: bool) -> str:
    if not stored:
        return "duplicate"
    if not found:
        log.warning("status callback for unknown message sid=%s", callback.sid)
        return "unknown-message"
    return "applied" if applied else "stale"


async def apply_one(conn: AsyncConnection, callback: Callback) -> str:
    result = await sql.one(conn, "apply_status_callback", message_id=callback.message_id, sid=callback.sid,
                           status=callback.status, error_code=callback.error_code, token=callback.token,
                           payload=callback.payload, metadata=callback.metadata)
    assert result is not None
    return _result(callback, result["stored"], result["found"], result["applied"])


async def apply_many(conn: AsyncConnection, callbacks: Sequence[Callback]) -> list[str]:
    """Callbacks no two of which can name the same message; raises LockNotAvailable when one
    of their rows is locked (apply those one by one)."""
    rows = await sql.all(conn, "apply_status_callbacks",
                         message_ids=[c.message_id for c in callbacks], sids=[c.sid for c in callbacks],
                         statuses=[c.status for c in callbacks], error_codes=[c.error_code for c in callbacks],
                         tokens=[c.token for c in callbacks], payloads=[Jsonb(c.payload) for c in callbacks],
                         metadata=[Jsonb(c.metadata) for c in callbacks])
    return [_result(c, r["stored"], r["found"], r["applied"]) for c, r in zip(callbacks, rows, strict=True)]


async def apply_status_callback(conn: AsyncConnection, params: Mapping[str, str], *, message_id: str | None,
                                idempotency_token: str | None) -> str:
    callback = parse(params, message_id=message_id, idempotency_token=idempotency_token)
    if isinstance(callback, str):
        return callback
    return await apply_one(conn, callback)
