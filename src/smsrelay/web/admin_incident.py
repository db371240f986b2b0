"""Admin API for incidents (/admin/v1): the mitigations and the diagnosis, as the CLI has them.
Every route requires the admin token; the operator's name goes into "AuditLog"."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from smsrelay.service.operations import incident
from smsrelay.service.tenancy import mitigations
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import Conn, Operator, operator, runtime

router = APIRouter(prefix="/admin/v1", tags=["admin", "incident"], dependencies=[Depends(operator)])


class ReasonBody(BaseModel):
    reason: str | None = Field(default=None, max_length=500)


class ThrottleBody(ReasonBody):
    perMinute: int | None = Field(description="Messages per minute; null removes the limit")


@router.post("/orgs/{org_id}/disable")
async def disable_org(org_id: str, conn: Conn, actor: Operator, body: ReasonBody | None = None) -> dict:
    return await mitigations.disable_org(conn, org_id, actor=actor, reason=body.reason if body else None)


@router.post("/orgs/{org_id}/enable")
async def enable_org(org_id: str, conn: Conn, actor: Operator, body: ReasonBody | None = None) -> dict:
    return await mitigations.enable_org(conn, org_id, actor=actor, reason=body.reason if body else None)


@router.post("/orgs/{org_id}/throttle")
async def throttle_org(org_id: str, body: ThrottleBody, conn: Conn, actor: Operator) -> dict:
    return await mitigations.throttle_org(conn, org_id, body.perMinute, actor=actor, reason=body.reason)


@router.post("/sms/pause")
async def pause(conn: Conn, actor: Operator, body: ReasonBody | None = None) -> dict:
    return await mitigations.pause(conn, actor=actor, reason=body.reason if body else None)


@router.post("/sms/resume")
async def resume(conn: Conn, actor: Operator, body: ReasonBody | None = None) -> dict:
    return await mitigations.resume(conn, actor=actor, reason=body.reason if body else None)


@router.get("/sms/status")
async def pause_status(conn: Conn) -> dict:
    return await mitigations.pause_state(conn)


@router.get("/incident/diagnose")
async def diagnose(rt: Annotated[Runtime, Depends(runtime)],
                   since: Annotated[str, Query(max_length=16)] = "1h",
                   channel: Literal["sms", "mms", "whatsapp"] | None = None) -> dict:
    """The diagnosis; `channel` scopes the window's traffic and failures to one channel."""
    return await incident.diagnose(rt, since, channel=channel)
