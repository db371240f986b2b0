"""Applying and lifting the autopilot's mitigations, each an audited "AutopilotAction" row.

Through the existing mechanisms: the runtime kill switch (service/tenancy/mitigations.pause) for
an account-level cause, the org's disable and rate limit for one org, and the "AutopilotAction"
hold itself (a guard dispatch reads) for one sender number, destination country or template.
Every write runs under service/audit.py's actor: `autopilot`, or the person who undoes it. A
mitigation holds messages and never drops them; lifting it releases each once.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import autopilot as rules
from smsrelay.domain import ids
from smsrelay.service import audit, jobs, problems
from smsrelay.service.runtime import Runtime
from smsrelay.service.tenancy import mitigations
from smsrelay.store import sql

RELEASE_BATCH = 500
# The hold reason dispatch records for the messages each kind of action holds.
HOLD_REASON = {"hold": "autopilot", "pause": "paused", "disable_org": "org_disabled"}
ENDED = ("reverted", "widened", "undone", "released", "closed", "dry_run_ended")


async def in_force(conn: AsyncConnection, plan: rules.Plan) -> str | None:
    """Why the mitigation is already on (a person or a guard put it there), if it is: the
    autopilot never applies what is already in force."""
    if plan.kind == "pause":
        state = await mitigations.pause_state(conn)
        return f"SMS already paused by {state.get('by')}" if state.get("paused") else None
    if plan.kind in ("disable_org", "throttle"):
        policy = await sql.one(conn, "get_org_policy", org_id=plan.scope.value)
        if policy is None:
            return f"no org {plan.scope.value}"
        if policy["smsDisabled"]:
            return f"org {plan.scope.value} already disabled"
        rate = policy["maxMessagesPerMinute"]
        if plan.kind == "throttle" and rate is not None and rate <= (plan.per_minute or 0):
            return f"org {plan.scope.value} already limited to {rate} per minute"
    return None


async def apply(rt: Runtime, plan: rules.Plan, *, dry_run: bool, details: dict[str, Any]) -> dict[str, Any]:
    """Record the action and, unless a dry run, apply it, in one audited transaction."""
    action_id = ids.new_id("apa")
    async with rt.pool.connection() as conn:
        async with audit.change(conn, actor=rules.ACTOR, reason=plan.reason):
            extra: dict[str, Any] = {}
            if not dry_run and plan.kind == "throttle":
                policy = await sql.one(conn, "get_org_policy", org_id=plan.scope.value)
                extra["previousPerMinute"] = policy["maxMessagesPerMinute"] if policy else None
            row = await sql.one(conn, "autopilot_insert_action", id=action_id, cause=plan.cause, kind=plan.kind,
                                scope_kind=plan.scope.kind, scope_value=plan.scope.value, org_id=plan.scope.org_id,
                                dry_run=dry_run, state="dry_run" if dry_run else "active", reason=plan.reason,
                                widened=plan.widened, details={**details, **extra, "plan": plan.describe(),
                                                               "perMinute": plan.per_minute})
            if not dry_run:
                if plan.kind == "pause":
                    await mitigations.pause(conn, actor=rules.ACTOR, reason=plan.reason)
                elif plan.kind == "disable_org":
                    await mitigations.disable_org(conn, plan.scope.value, actor=rules.ACTOR, reason=plan.reason)
                elif plan.kind == "throttle":
                    await mitigations.throttle_org(conn, plan.scope.value, plan.per_minute, actor=rules.ACTOR,
                                                   reason=plan.reason)
    return row


async def update(conn: AsyncConnection, action_id: str, state: str, *, actor: str = rules.ACTOR,
                 reason: str | None = None, details: dict[str, Any] | None = None, probe: str | None = None,
                 end: bool = False) -> dict[str, Any]:
    async with audit.change(conn, actor=actor, reason=reason, default_reason=f"autopilot action {state}"):
        return await sql.one(conn, "autopilot_update_action", id=action_id, state=state, details=details or {},
                             probe=probe, end=end, ended_by=actor)


async def lift(rt: Runtime, action: dict[str, Any], state: str, *, actor: str = rules.ACTOR,
               reason: str | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """End the action and undo its mitigation; what it held goes out, each message once."""
    async with rt.pool.connection() as conn:
        async with audit.change(conn, actor=actor, reason=reason, default_reason=f"autopilot action {state}") as why:
            row = await sql.one(conn, "autopilot_update_action", id=action["id"], state=state, details=details or {},
                                probe=None, end=True, ended_by=actor)
            if row is None:  # someone ended it first: what it applied is already lifted
                raise problems.AUTOPILOT_ACTION_ENDED(action_id=action["id"], state="ended meanwhile")
            if not action["dryRun"]:
                await _undo_mitigation(conn, action, actor, why or f"autopilot action {state}")
    if action["kind"] == "hold" and not action["dryRun"]:
        await release_holds(rt)
    return row


async def _undo_mitigation(conn: AsyncConnection, action: dict[str, Any], actor: str, reason: str) -> None:
    kind = action["kind"]
    if kind == "pause":
        state = await mitigations.pause_state(conn)
        # A pause someone else set (or renewed) since is theirs to lift.
        if state.get("paused") and state.get("by") == rules.ACTOR:
            await mitigations.resume(conn, actor=actor, reason=reason)
    elif kind == "disable_org":
        await mitigations.enable_org(conn, action["scopeValue"], actor=actor, reason=reason)
    elif kind == "throttle":
        previous = (action["details"] or {}).get("previousPerMinute")
        await mitigations.throttle_org(conn, action["scopeValue"], previous, actor=actor, reason=reason)


async def release_holds(rt: Runtime) -> int:
    """Enqueue each message the autopilot held that no live hold covers any more; its hold is
    cleared in the transaction that enqueues its one send, so it is released once. (Pauses and
    org disables are released by the workers' own release loop, as when a person lifts them.)"""
    total = 0
    while True:
        async with rt.pool.connection() as conn, conn.transaction():
            rows = await sql.all(conn, "autopilot_releasable", limit=RELEASE_BATCH)
            for row in rows:
                await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"hold": None})
                await jobs.enqueue_send(conn, row["id"])
        total += len(rows)
        if len(rows) < RELEASE_BATCH:
            return total


async def undo(rt: Runtime, action_id: str, *, actor: str, reason: str | None = None) -> dict[str, Any]:
    """A person's one command: end the autopilot's action and lift what it applied. The autopilot
    does not act on that cause again until it has cleared or a person switches it again."""
    reason = audit.clean_reason(reason)
    async with rt.pool.connection() as conn:
        action = await sql.one(conn, "autopilot_action", id=action_id)
    if action is None:
        raise problems.AUTOPILOT_ACTION_NOT_FOUND(action_id=action_id)
    if action["endedAt"] is not None:
        raise problems.AUTOPILOT_ACTION_ENDED(action_id=action_id, state=action["state"])
    return present(await lift(rt, action, "undone", actor=actor, reason=reason or f"undo {action_id}"))


async def held_count(conn: AsyncConnection, action: dict[str, Any]) -> int:
    reason = HOLD_REASON.get(action["kind"])
    if reason is None or action["dryRun"]:
        return 0
    row = await sql.one(conn, "autopilot_held_count", reason=reason, scope_kind=action["scopeKind"],
                        scope_value=action["scopeValue"])
    return row["n"]


def present(row: dict[str, Any]) -> dict[str, Any]:
    def t(v: Any) -> str | None:
        return v.isoformat() if v is not None else None

    details = row["details"] or {}
    return {"id": row["id"], "cause": row["cause"], "kind": row["kind"], "scope": row["scopeKind"],
            "value": row["scopeValue"], "orgId": row["orgId"], "dryRun": row["dryRun"], "state": row["state"],
            "reason": row["reason"], "widened": row["widened"], "plan": details.get("plan"),
            "probeMessageId": row["probeMessageId"], "createdAt": t(row["createdAt"]),
            "updatedAt": t(row["updatedAt"]), "endedAt": t(row["endedAt"]), "endedBy": row["endedBy"],
            "undo": None if row["endedAt"] is not None or row["dryRun"] else f"smsrelay autopilot undo {row['id']}",
            "details": {k: v for k, v in details.items() if k != "report"},
            "report": details.get("report")}
