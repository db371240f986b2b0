"""The public API for an org's message templates (org key): create, list, read, edit (a new
version), archive. A save answers the check's findings and segment range; the org's content
policy decides whether a finding refuses it (422 template_content_blocked)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from smsrelay.service.templates import catalog
from smsrelay.web.api import FindingOut
from smsrelay.web.deps import Conn, OrgId
from smsrelay.web.problem_docs import errors_for

router = APIRouter(prefix="/v1", tags=["templates"])


class WhatsAppContent(BaseModel):
    contentSid: str = Field(max_length=34, description="The approved Twilio Content template (HX + 32 hex digits) "
                                                       "this template goes as on WhatsApp outside the 24-hour window",
                            json_schema_extra={"examples": ["HX" + "0" * 32]})
    variables: dict[str, Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict, max_length=20,
        description="Which placeholder of the body fills each content variable, e.g. {\"1\": \"name\"}")


class TemplateCreate(BaseModel):
    name: str = Field(max_length=64, description="Lower-case letters, digits and '_', e.g. table_ready",
                      json_schema_extra={"examples": ["table_ready"]})
    body: str = Field(max_length=4000, description="Text with placeholders: {{name}}, {{party_size:int}}, "
                                                  "{{amount:number}}",
                      json_schema_extra={"examples": ["Hi {{name}}, your table for {{party_size:int}} is ready"]})
    whatsapp: WhatsAppContent | None = Field(default=None, description=(
        "Its WhatsApp content template: a send by this template on WhatsApp goes as free text within the "
        "person's 24-hour window and as this content template outside it"))


class TemplateChange(BaseModel):
    body: str | None = Field(default=None, max_length=4000, description="A new body: saved as the next version")
    whatsapp: WhatsAppContent | None = Field(default=None, description="New WhatsApp content (the next version); "
                                                                       "null removes it, absent keeps it")
    archived: bool | None = Field(default=None, description="false restores an archived template")


class PlaceholderOut(BaseModel):
    name: str
    type: Literal["str", "int", "number"]


class SegmentRange(BaseModel):
    min: int = Field(description="Segments with the shortest values")
    max: int = Field(description="Segments with the longest values, one forcing UCS-2 where a str allows it")


class VersionOut(BaseModel):
    version: int
    body: str
    whatsapp: WhatsAppContent | None = None
    segments: SegmentRange | None = None
    findings: list[FindingOut] = Field(default_factory=list)
    createdBy: str
    createdAt: str | None = None


class TemplateOut(BaseModel):
    id: str
    name: str
    version: int = Field(description="The current version; every edit makes a new one")
    body: str
    placeholders: list[PlaceholderOut]
    segments: SegmentRange | None = None
    encoding: str | None = Field(default=None, description="With plain values")
    worstEncoding: str | None = Field(default=None, description="With the worst values")
    findings: list[FindingOut] = Field(description="What the content check found when this version was saved")
    whatsapp: WhatsAppContent | None = Field(default=None, description="Its WhatsApp content template, if any")
    archived: bool
    archivedAt: str | None = None
    disabled: bool = Field(description="Held by an operator: its messages wait until it is enabled")
    disabledReason: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    versions: list[VersionOut] | None = Field(default=None, description="Newest first (GET of one template)")


class TemplateList(BaseModel):
    templates: list[TemplateOut]


@router.post("/templates", status_code=201, response_model=TemplateOut,
             responses=errors_for("template_exists", "invalid_template", "template_content_blocked", body=True))
async def create_template(req: TemplateCreate, org_id: OrgId, conn: Conn) -> dict:
    """Save a new template (version 1) after checking it as the org's content policy says."""
    return await catalog.create(conn, org_id, req.name, req.body, actor=f"api:{org_id}",
                                whatsapp=req.whatsapp.model_dump() if req.whatsapp else None)


@router.get("/templates", response_model=TemplateList, responses=errors_for("invalid_request"))
async def list_templates(org_id: OrgId, conn: Conn, archived: bool = False,
                         limit: Annotated[int, Query(ge=1, le=catalog.MAX_LIST)] = 100) -> dict:
    """The org's templates by name (archived ones only when asked)."""
    return {"templates": await catalog.search(conn, org_id, archived=archived, limit=limit)}


@router.get("/templates/{name}", response_model=TemplateOut, responses=errors_for("template_not_found"))
async def get_template(name: str, org_id: OrgId, conn: Conn) -> dict:
    """One template with its versions, newest first."""
    return await catalog.get(conn, org_id, name, versions=50)


@router.patch("/templates/{name}", response_model=TemplateOut,
              responses=errors_for("template_not_found", "invalid_template", "template_content_blocked", body=True))
async def change_template(name: str, req: TemplateChange, org_id: OrgId, conn: Conn) -> dict:
    """A new body or WhatsApp content (the next version: messages already accepted keep theirs) and/or
    the archived state."""
    actor = f"api:{org_id}"
    if req.body is not None or "whatsapp" in req.model_fields_set:
        # An absent "whatsapp" keeps the current content; null removes it.
        whatsapp = req.whatsapp.model_dump() if req.whatsapp else None
        await catalog.edit(conn, org_id, name, req.body, actor=actor,
                           whatsapp=whatsapp if "whatsapp" in req.model_fields_set else catalog.KEEP)
    if req.archived is not None:
        await catalog.set_archived(conn, org_id, name, req.archived, actor=actor)
    return await catalog.get(conn, org_id, name, versions=50)


@router.post("/templates/{name}/archive", response_model=TemplateOut, responses=errors_for("template_not_found"))
async def archive_template(name: str, org_id: OrgId, conn: Conn) -> dict:
    """Archive: the template keeps its versions (messages name them) and sends nothing more."""
    return await catalog.set_archived(conn, org_id, name, True, actor=f"api:{org_id}")
