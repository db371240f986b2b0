"""The public API orgs call: send messages and read them back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smsrelay.domain import lint as content_lint
from smsrelay.service.outbound import batch, held_on_accept, message_pages, messages
from smsrelay.web import deps
from smsrelay.web.deps import Conn, OrgId, SendOrg
from smsrelay.web.message_schemas import Held, Message, MessagePage, Status
from smsrelay.web.problem_docs import ErrorBody, ErrorResponse, errors_for

router = APIRouter(prefix="/v1", tags=["messages"])


class SendRequest(BaseModel):
    to: str = Field(description="Recipient, E.164 or national format in the org's default region",
                    json_schema_extra={"minLength": 1, "maxLength": 64, "examples": ["+14155552671"]})
    body: str = Field(description="Message text, at most 1600 characters",
                      json_schema_extra={"minLength": 1, "maxLength": 1600, "examples": ["Your code is 123456"]})
    from_: str | None = Field(default=None, alias="from", description="One of the org's sender numbers")


class FindingOut(BaseModel):
    code: str
    message: str
    severity: Literal["error", "warning", "info"]


class Accepted(BaseModel):
    id: str
    status: str
    segments: int
    encoding: Literal["GSM-7", "UCS-2"]
    to: str
    from_: str | None = Field(default=None, alias="from")
    findings: list[FindingOut] = Field(default_factory=list,
                                       description="Content and recipient warnings the org's policy let through")
    held: Held | None = Field(default=None, description="Present when a guard holds the message: it is kept "
                                                        "(status queued) and sent once the guard lifts")


# The codes a send can answer (service/outbound/messages.py, domain/admission.py).
SEND_ERRORS = ("invalid_characters", "empty_body", "body_too_long", "invalid_to_number", "invalid_from_number",
               "no_sender", "to_is_sender", "recipient_opted_out", "country_not_allowed", "landline_destination",
               "content_blocked", "idempotency_key_reused", "daily_cap_reached")


@router.post("/messages", status_code=202, response_model=Accepted, responses=errors_for(*SEND_ERRORS, body=True))
async def send_message(req: SendRequest, request: Request, org_id: SendOrg, conn: Conn,
                       idempotency_key: Annotated[str | None, Header(max_length=255)] = None):
    """Accept a message for sending. The row and its send job commit together; the reply is 202."""
    status, body = await deps.accept_message(request, org_id, conn, to=req.to, body=req.body, from_=req.from_,
                                             idempotency_key=idempotency_key)
    rt = request.app.state.runtime
    body = held_on_accept.mark_held(body, await held_on_accept.hold_reason(
        rt, conn, await deps.tenancy_cache(rt).org(conn, org_id)))
    return JSONResponse(status_code=status, content=body)


class BatchRequest(BaseModel):
    messages: list[SendRequest] = Field(
        description=f"1 to {batch.MAX_BATCH} messages, each as for POST /v1/messages",
        # Counted by the use case, so a batch too large gets its own code (413 batch_too_large).
        json_schema_extra={"minItems": 1, "maxItems": batch.MAX_BATCH})


class BatchAccepted(Accepted):
    index: int = Field(description="Position of the message in the request")


class BatchRejected(BaseModel):
    index: int = Field(description="Position of the message in the request")
    error: ErrorBody = Field(description="What a single POST /v1/messages would have answered")


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BatchAccepted | BatchRejected] = Field(description="One per message, in request order")


@router.post("/messages:batch", status_code=200, response_model=BatchResult,
             responses=errors_for("batch_empty", "batch_too_large", "idempotency_key_reused", body=True))
async def send_batch(req: BatchRequest, request: Request, org_id: OrgId, conn: Conn,
                     idempotency_key: Annotated[str | None, Header(max_length=255)] = None):
    """Accept up to 1,000 messages in one request. Each is checked as a single send would be; the
    ones refused are reported by index and not stored; every accepted row and its send job commit
    together in one transaction. The per-key request limit counts the batch as one request."""
    status, body = await batch.accept_batch_idempotent(conn, org_id, [(m.to, m.body, m.from_) for m in req.messages],
                                                       idempotency_key=idempotency_key)
    rt = request.app.state.runtime
    reason = await held_on_accept.hold_reason(rt, conn, await deps.tenancy_cache(rt).org(conn, org_id))
    body = {**body, "results": [held_on_accept.mark_held(r, reason) for r in body.get("results", [])]}
    return JSONResponse(status_code=status, content=body)


@router.get("/messages/{message_id}", response_model=None,
            responses={200: {"model": Message, "description": "The message"}, **errors_for("not_found")})
async def get_message(message_id: str, org_id: OrgId, conn: Conn) -> dict:
    """A message with its status history (every distinct status callback, in arrival order)."""
    return await messages.get(conn, org_id, message_id)


@router.get("/messages", response_model=None,
            responses={200: {"model": MessagePage, "description": "A page of messages, newest first"},
                       **errors_for("invalid_cursor", "invalid_to_number", "invalid_request")})
async def list_messages(org_id: OrgId, conn: Conn,
                        status: Status | None = None, since: datetime | None = None,  # type: ignore[valid-type]
                        to: Annotated[str | None, Query(description="Normalised as a send's `to` is")] = None,
                        after: Annotated[str | None, Query(description="A page's nextCursor", max_length=512)] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """The org's messages, newest first, `limit` a page; pass a page's `nextCursor` as `after`."""
    return await message_pages.page(conn, org_id, status=status, since=since, to=to, after=after, limit=limit)


class LintRequest(BaseModel):
    body: str = Field(json_schema_extra={"examples": ["Your code is 123456"]})


@router.post("/lint", tags=["content"], responses=errors_for(body=True))
async def lint(req: LintRequest, org_id: OrgId) -> dict:
    """Encoding, segments and content findings for a body, as Twilio would count them."""
    return content_lint.lint(req.body).to_dict()
