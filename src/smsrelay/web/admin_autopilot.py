"""Admin API for the incident autopilot (/admin/v1/autopilot): its switches per cause, what it
did, and a person's undo. Every route requires the admin token; the operator's name goes into
"AuditLog"."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from smsrelay.service.operations import autopilot, autopilot_actions, autopilot_config
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import Conn, Operator, operator, runtime

router = APIRouter(prefix="/admin/v1/autopilot", tags=["admin", "autopilot"], dependencies=[Depends(operator)])


class Switch(BaseModel):
    causes: list[str] | None = Field(default=None, description="Causes to switch; none means every cause it handles")
    dryRun: bool = Field(default=False, description="Announce what it would do and change nothing")
    reason: str | None = Field(default=None, max_length=500)


class Undo(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


@router.get("")
async def autopilot_status(rt: Annotated[Runtime, Depends(runtime)]) -> dict:
    """Which causes it may act on, and its actions of the last 24 hours."""
    return await autopilot.status(rt)


@router.post("/enable")
async def autopilot_enable(body: Switch, conn: Conn, actor: Operator) -> dict:
    causes = await autopilot_config.set_enabled(conn, body.causes, True, dry_run=body.dryRun, actor=actor,
                                                reason=body.reason)
    return {"causes": causes}


@router.post("/disable")
async def autopilot_disable(body: Switch, conn: Conn, actor: Operator) -> dict:
    return {"causes": await autopilot_config.set_enabled(conn, body.causes, False, actor=actor, reason=body.reason)}


@router.post("/actions/{action_id}/undo")
async def autopilot_undo(action_id: str, body: Undo, rt: Annotated[Runtime, Depends(runtime)], actor: Operator) -> dict:
    return await autopilot_actions.undo(rt, action_id, actor=actor, reason=body.reason)


@router.get("/actions/{action_id}")
async def autopilot_action(action_id: str, rt: Annotated[Runtime, Depends(runtime)]) -> dict:
    """One action, with the post-incident report once its incident closed."""
    return await autopilot.report(rt, action_id)
