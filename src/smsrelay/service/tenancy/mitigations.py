"""The runbook's mitigations as audited operations: disable or throttle one org, pause all SMS.

Org changes go through "OrgSettings", whose trigger writes "AuditLog"; we name the actor and
reason in the same transaction. The kill switch (pause/resume) belongs to the guardrails; it is
re-exported here so the admin API has one home for mitigations. A mitigation holds messages, never drops them: the guards
(service/outbound/guards.py) hold sends while it is on, and the workers release them when it is lifted.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.service.outbound import guards
from smsrelay.service.problems import Problem
from smsrelay.store import sql

MAX_PER_MINUTE = 100_000


def _clean_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise Problem(422, "invalid_reason", "The reason must be at most 500 characters.")
    return reason or None


async def _update_org(conn: AsyncConnection, query: str, org_id: str, actor: str, reason: str | None,
                      **params: Any) -> dict[str, Any]:
    async with conn.transaction():
        await sql.one(conn, "set_actor", actor=actor, reason=_clean_reason(reason))
        row = await sql.one(conn, query, org_id=org_id, **params)
    if row is None:
        raise Problem(404, "org_not_found", f"No org {org_id}.")
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
        raise Problem(422, "invalid_rate", f"--per-minute must be between 1 and {MAX_PER_MINUTE}.")
    return await _update_org(conn, "mitigate_org_rate", org_id, actor, reason, per_minute=per_minute)


async def pause(conn: AsyncConnection, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """Runtime kill switch (the guardrails own it; audited by the "SystemSetting" trigger)."""
    return await guards.pause(conn, actor=actor, reason=reason)


async def resume(conn: AsyncConnection, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    return await guards.resume(conn, actor=actor, reason=reason)


async def pause_state(conn: AsyncConnection) -> dict[str, Any]:
    return await guards.paused(conn) or {"paused": False}
