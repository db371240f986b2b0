"""Admin API for the guardrails (/admin/v1): what holds outbound SMS right now, and each org's
policies. Pause/resume and org disable/throttle are in admin_incident.py. Every route requires
the admin token; the operator's name goes into "AuditLog"."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from smsrelay.service.outbound import guards
from smsrelay.service.tenancy import org_policy
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import Conn, Operator, operator, runtime

router = APIRouter(prefix="/admin/v1", tags=["admin", "guardrails"], dependencies=[Depends(operator)])


class PolicyChange(BaseModel):
    """Only the fields present change."""

    contentPolicy: Literal["warn", "block"] | None = None
    landlinePolicy: Literal["warn", "block"] | None = None
    allowedCountries: list[str] | None = Field(default=None, description="ISO regions; [] allows every country")
    defaultRegion: str | None = Field(default=None, max_length=2)
    helpText: str | None = Field(default=None, max_length=640)
    validityPeriodSeconds: int | None = Field(default=None, ge=1)
    dailySendCap: int | None = Field(default=None, ge=1, description="Most outbound SMS segments a day, counted as Twilio bills them; null removes it")
    reason: str | None = Field(default=None, max_length=500)


@router.get("/guardrails")
async def guardrails_status(conn: Conn, rt: Annotated[Runtime, Depends(runtime)]) -> dict:
    """The kill switches, disabled and throttled orgs, and how many messages each holds."""
    return await guards.status(conn, rt.settings)


@router.get("/orgs/{org_id}/policy")
async def get_policy(org_id: str, conn: Conn) -> dict:
    return await org_policy.get(conn, org_id)


@router.patch("/orgs/{org_id}/policy")
async def change_policy(org_id: str, body: PolicyChange, conn: Conn, actor: Operator) -> dict:
    changes = body.model_dump(exclude_unset=True)
    reason = changes.pop("reason", None)
    return await org_policy.update(conn, org_id, changes, actor=actor, reason=reason)
