"""Holding one template's messages: the mitigation for content filtering that concentrates on
one template, while the org's other templates and free text keep flowing.

`disable` marks the template; dispatch's guards (service/outbound/guards.py) then hold each of
its messages as `template_disabled` instead of sending it (held, never dropped: it stays
queued, and one held past its org's validity period is expired by the release loop as any held
message is). `enable` lifts the mark; the workers' release loop (service/outbound/release.py)
then releases each held message once, oldest first, clearing its hold in the transaction that
enqueues its one send. Both are audited ("AuditLog", table "MessageTemplate"). These two
functions are the one entry point: the CLI, the dashboard and the autopilot call them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.service import audit, problems
from smsrelay.service.templates.catalog import name_of
from smsrelay.store import sql

HOLD_REASON = "template_disabled"


async def _switch(conn: AsyncConnection, org_id: str, name: str, on: bool, actor: str,
                  reason: str | None) -> dict[str, Any]:
    name = name_of(name)
    default = f"template {'disable' if on else 'enable'} {name}"
    async with audit.change(conn, actor=actor, reason=reason, default_reason=default) as cleaned:
        if await sql.one(conn, "org_exists", org_id=org_id) is None:
            raise problems.ORG_NOT_FOUND(org_id=org_id)
        row = await sql.one(conn, "lock_template", org_id=org_id, name=name)
        if row is None:
            raise problems.TEMPLATE_NOT_FOUND(name=name)
        state = row["disabled"]
        if (state is not None) != on:
            state = {"by": actor, "reason": cleaned or default,
                     "since": datetime.now(timezone.utc).isoformat()} if on else None
            await sql.one(conn, "set_template_disabled", id=row["id"], disabled=state)
            await sql.execute(conn, "insert_audit", table_name="MessageTemplate", org_id=org_id,
                              action="disable" if on else "enable", actor=actor, reason=cleaned or default,
                              before={"name": name, "disabled": row["disabled"]}, after={"name": name, "disabled": state})
        held = (await sql.one(conn, "template_held_count", org_id=org_id, template_id=row["id"]))["count"]
    return {"orgId": org_id, "template": name, "templateId": row["id"], "disabled": state is not None,
            "reason": (state or {}).get("reason"), "since": (state or {}).get("since"), "held": held}


async def disable(conn: AsyncConnection, org_id: str, name: str, *, actor: str,
                  reason: str | None = None) -> dict[str, Any]:
    """Hold every message of this template not yet sent, from its next send on, in every worker.
    Idempotent: disabling a disabled template changes nothing and records nothing."""
    return await _switch(conn, org_id, name, True, actor, reason)


async def enable(conn: AsyncConnection, org_id: str, name: str, *, actor: str,
                 reason: str | None = None) -> dict[str, Any]:
    """Lift the hold; `held` is how many messages the release loop is about to send, each once."""
    return await _switch(conn, org_id, name, False, actor, reason)
