"""The one way a settings change names who made it and why.

"AuditLog" rows for "OrgSettings" and "SystemSetting" are written by their triggers, which read the
actor and reason set in the same transaction. Every change therefore goes through `change()`: it
cleans the reason (the same limit for the CLI, the admin API and the dashboard), opens the
transaction and names the actor before the caller writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection

from smsrelay.service import problems
from smsrelay.store import sql

MAX_REASON = 500


def clean_reason(reason: str | None) -> str | None:
    """The operator's reason, trimmed; None when none was given. Raises invalid_reason when too long."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise problems.INVALID_REASON(max_length=MAX_REASON)
    return reason or None


@asynccontextmanager
async def change(conn: AsyncConnection, *, actor: str, reason: str | None,
                 default_reason: str | None = None) -> AsyncIterator[str | None]:
    """A transaction whose writes the audit triggers record as `actor`'s, for the cleaned reason
    (or `default_reason` when none was given). Yields the cleaned reason."""
    cleaned = clean_reason(reason)
    async with conn.transaction():
        await sql.one(conn, "set_actor", actor=actor, reason=cleaned or default_reason)
        yield cleaned
