"""The runbook's mitigations as audited operations: disable or throttle one org, pause all SMS.

This is the one entry point for each mitigation: the CLI, the admin API and the dashboard all
call these functions, so a mitigation is recorded the same way whoever applies it. Every change
goes through service/audit.py, which names the actor and reason for the "AuditLog" triggers on
"OrgSettings" and "SystemSetting". A mitigation holds messages, never drops them: the guards
(service/outbound/guards.py) hold sends while it is on, and the workers release them when it is lifted.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.service import audit, problems
from smsrelay.service.outbound import guards
from smsrelay.store import sql

MAX_PER_MINUTE = 100_000


async def _update_org(conn: AsyncConnection, query: str, org_id: str, actor: str, reason: str | None,
                      **params: Any) -> dict[str, Any]:
    async with audit.change(conn, actor=actor, reason=reason):
        row = await sql.one(conn, query, org_id=org_id, **params)
    if row is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return {"orgId": row["orgId"], "smsDisabled": row["smsDisabled"],
            "maxMessagesPerMinute": row["maxMessagesPerMinute"]}


async def disable_org(conn: AsyncConnection, org_id: str, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """The runbook's `UPDATE "OrgSettings" SET "smsDisabled" = true`: that org's sends are held."""
    return await _update_org(conn, "mitigate_org_disabled", org_id, actor, reason, disabled=True)


async def enable_org(conn: AsyncConnection, org_id: str, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """Lifts the disable; the workers release the held messages, oldest first."""
    return await _update_org(conn, "mitigate_org_disabled", org_id, actor, reason, disabled=False)


async def throttle_org(conn: AsyncConnection, org_id: str, per_minute: int | None, *, actor: str,
                       reason: str | None = None) -> dict[str, Any]:
    """The runbook's `SET "maxMessagesPerMinute" = N`; None removes the limit."""
    if per_minute is not None and not 1 <= per_minute <= MAX_PER_MINUTE:
        raise problems.INVALID_RATE(max_per_minute=MAX_PER_MINUTE)
    return await _update_org(conn, "mitigate_org_rate", org_id, actor, reason, per_minute=per_minute)


# --- the runtime kill switch ------------------------------------------------------------------

async def _switch(conn: AsyncConnection, on: bool, actor: str, reason: str | None) -> dict[str, Any]:
    async with audit.change(conn, actor=actor, reason=reason,
                            default_reason="sms pause" if on else "sms resume") as cleaned:
        value = {"paused": on, "by": actor, "reason": cleaned, "since": datetime.now(timezone.utc).isoformat()}
        await sql.execute(conn, "put_system_setting", key=guards.KILL_SWITCH_KEY, value=value)
    return value


async def pause(conn: AsyncConnection, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """Hold every outbound send, in every process, from the next message on; no restart."""
    return await _switch(conn, True, actor, reason)


async def resume(conn: AsyncConnection, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """Lift the pause; the workers release what it held, oldest first."""
    return await _switch(conn, False, actor, reason)


async def pause_state(conn: AsyncConnection) -> dict[str, Any]:
    return await guards.paused(conn) or {"paused": False}
