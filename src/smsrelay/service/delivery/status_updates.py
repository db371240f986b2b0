"""Moving a message through the status lattice, from any source (worker, callback, reconciler).

Every transition is one UPDATE that applies the lattice's SQL twin (migration 0012, compared
with domain/status.py by tests/store/test_status_sql.py) to the row's newest version, so
concurrent, duplicated and out-of-order updates converge on the same final status.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import catalogue
from smsrelay.store import rows, sql


def error_metadata(code: int | str | None, message: str | None) -> dict[str, Any]:
    """The runbook reads codes as strings from "metadata"->>'twilioErrorCode'."""
    if code in (None, "", 0, "0"):
        return {}
    entry = catalogue.lookup(code)
    return {"twilioErrorCode": str(code), "twilioErrorMessage": message or (entry.message if entry else "Unknown error")}


async def advance_by_id(conn: AsyncConnection, message_id: str, new_status: str, *, twilio_sid: str | None = None,
                        metadata: dict[str, Any] | None = None) -> rows.Message | None:
    """Apply new_status when the lattice allows, deciding on the row's newest version in the
    statement itself (no prior lock); always keep the sid and metadata (a late worker commit
    still records the sid after a callback moved on). None if the message does not exist."""
    return await sql.one(conn, "update_message", id=message_id, status=new_status, twilio_sid=twilio_sid,
                         metadata=dict(metadata or {}))


async def advance(conn: AsyncConnection, row: dict[str, Any], new_status: str, *, twilio_sid: str | None = None,
                  metadata: dict[str, Any] | None = None) -> rows.Message:
    """advance_by_id for a caller that already holds the row (its lock keeps the row as read)."""
    updated = await advance_by_id(conn, row["id"], new_status, twilio_sid=twilio_sid, metadata=metadata)
    assert updated is not None
    return updated
