"""The public API orgs call: send messages and read them back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smsrelay.domain import lint as content_lint
from smsrelay.service.outbound import batch, messages
from smsrelay.web import channel_fields, deps
from smsrelay.web.channel_fields import Channel, MediaUrl
from smsrelay.web.deps import Conn, OrgId, SendOrg

router = APIRouter(prefix="/v1", tags=["messages"])


class SendRequest(BaseModel):
    to: str = Field(description="Recipient, E.164 or national format in the org's default region")
    body: str = Field(default="", description="Message text, at most 1600 characters (may be empty with mediaUrls "
                                               "or contentSid)")
    from_: str | None = Field(default=None, alias="from", description="One of the org's sender numbers")
    # Channels and scheduled sends (issue 18; web/channel_fields.py).
    channel: Channel | None = Field(default=None, description=channel_fields.CHANNEL)
    mediaUrls: list[MediaUrl] | None = Field(default=None, max_length=10, description=channel_fields.MEDIA_URLS)
    contentSid: str | None = Field(default=None, max_length=34, description=channel_fields.CONTENT_SID)
    contentVariables: dict[str, Annotated[str, Field(max_length=1600)]] | None = Field(
        default=None, description=channel_fields.CONTENT_VARIABLES)
    sendAt: datetime | None = Field(default=None, description=channel_fields.SEND_AT)


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
    channel: Channel = Field(default="sms", description="The channel it goes on (mms whenever it carries media)")
    sendAt: datetime | None = Field(default=None, description="When a scheduled message goes (status scheduled)")
    mediaUrls: list[str] = Field(default_factory=list, description="The media Twilio fetches and sends")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


ERRORS = {status: {"model": ErrorResponse} for status in (401, 404, 409, 413, 422, 429, 503)}


@router.post("/messages", status_code=202, response_model=Accepted, responses=ERRORS)
async def send_message(req: SendRequest, request: Request, org_id: SendOrg, conn: Conn,
                       idempotency_key: Annotated[str | None, Header(max_length=255)] = None):
    """Accept a message for sending. The row and its send job commit together; the reply is 202."""
    status, body = await deps.accept_message(request, org_id, conn, to=req.to, body=req.body, from_=req.from_,
                                             idempotency_key=idempotency_key,
                                             extras=channel_fields.extras(request, req))
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


@router.post("/messages:batch", status_code=200, response_model=BatchResult, responses=ERRORS)
async def send_batch(req: BatchRequest, org_id: OrgId, conn: Conn,
                     idempotency_key: Annotated[str | None, Header(max_length=255)] = None):
    """Accept up to 1,000 messages in one request. Each is checked as a single send would be; the
    ones refused are reported by index and not stored; every accepted row and its send job commit
    together in one transaction. The per-key request limit counts the batch as one request."""
    channel_fields.sms_only(req.messages)
    status, body = await batch.accept_batch_idempotent(conn, org_id, [(m.to, m.body, m.from_) for m in req.messages],
                                                       idempotency_key=idempotency_key)
    return JSONResponse(status_code=status, content=body)


@router.get("/messages/{message_id}", responses=ERRORS)
async def get_message(message_id: str, org_id: OrgId, conn: Conn) -> dict:
    """A message with its status history (every distinct status callback, in arrival order)."""
    return await messages.get(conn, org_id, message_id)


@router.get("/messages", responses=ERRORS)
async def list_messages(org_id: OrgId, conn: Conn,
                        status: str | None = None, since: datetime | None = None, to: str | None = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100, channel: Channel | None = None) -> dict:
    return {"messages": await messages.search(conn, org_id, status=status, since=since, to=to, limit=limit,
                                              channel=channel)}


class LintRequest(BaseModel):
    body: str


@router.post("/lint", tags=["content"])
async def lint(req: LintRequest, org_id: OrgId) -> dict:
    """Encoding, segments and content findings for a body, as Twilio would count them."""
    return content_lint.lint(req.body).to_dict()
