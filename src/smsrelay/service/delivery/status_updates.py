"""Moving a message through the status lattice, from any source (worker, callback, reconciler).

Every transition takes the row lock and asks the domain lattice, so concurrent, duplicated and
out-of-order updates converge on the same final status.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import catalogue
from smsrelay.domain import status as lattice
from smsrelay.store import sql


def error_metadata(code: int | str | None, message: str | None) -> dict[str, Any]:
    """The runbook reads codes as strings from "metadata"->>'twilioErrorCode'."""
    if code in (None, "", 0, "0"):
        return {}
    entry = catalogue.lookup(code)
    return {"twilioErrorCode": str(code), "twilioErrorMessage": message or (entry.message if entry else "Unknown error")}


async def advance(conn: AsyncConnection, row: dict[str, Any], new_status: str, *, twilio_sid: str | None = None,
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply new_status to a row locked by the caller when the lattice allows; always keep the
    sid and metadata (a late worker commit still records the sid after a callback moved on)."""
    applies = lattice.should_apply(row["status"], new_status)
    status = new_status if applies else row["status"]
    meta = dict(metadata or {})
    if applies and new_status != "queued" and (row["metadata"] or {}).get("outcome") == "unknown":
        # Twilio has spoken about the message: what dispatch could not establish is settled.
        meta = {"outcome": None, "hold": None, "inFlight": None, "failedChecks": None, **meta}
    if not applies:
        # An error belonging to a status we did not apply must not overwrite the real outcome.
        meta.pop("twilioErrorCode", None)
        meta.pop("twilioErrorMessage", None)
    updated = await sql.one(conn, "update_message", id=row["id"], status=status, twilio_sid=twilio_sid,
                            metadata=meta, final=lattice.is_final(status))
    assert updated is not None
    return updated
