"""The public API orgs call: send messages and read them back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from psycopg import AsyncConnection
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from smsrelay.domain import lint as content_lint
from smsrelay.service.events import webhooks
from smsrelay.service.outbound import batch, held_on_accept, message_pages, messages
from smsrelay.service.runtime import Runtime
from smsrelay.service.templates import sending as template_sending
from smsrelay.web import channel_fields, deps
from smsrelay.web.channel_fields import Channel, MediaUrl
from smsrelay.web.deps import Conn, OrgId, SendOrg
from smsrelay.web.message_schemas import Held, Message, MessagePage, Status
from smsrelay.web.problem_docs import ErrorBody, ErrorResponse, errors_for

router = APIRouter(prefix="/v1", tags=["messages"])


class SendRequest(BaseModel):
    to: str = Field(description="Recipient, E.164 or national format in the org's default region",
                    json_schema_extra={"minLength": 1, "maxLength": 64, "examples": ["+14155552671"]})
    body: str | None = Field(default=None, description="Message text, at most 1600 characters (or send a 'template')",
                             json_schema_extra={"minLength": 1, "maxLength": 1600, "examples": ["Your code is 123456"]})
    from_: str | None = Field(default=None, alias="from", description="One of the org's sender numbers")
    template: str | None = Field(default=None, max_length=64,
                                 description="Send this template of the org instead of a body (see /v1/templates)")
    variables: dict[str, Any] | None = Field(default=None, description="A value for each of the template's placeholders")
    statusCallback: str | None = Field(default=None, max_length=2000,
                                       description="Where this message's status events go, instead of the org's "
                                                   "status URL (signed like every event; see docs/api.md)")
    # Channels and scheduled sends (issue 18; web/channel_fields.py).
    channel: Channel | None = Field(default=None, description=channel_fields.CHANNEL)
    mediaUrls: list[MediaUrl] | None = Field(default=None, max_length=10, description=channel_fields.MEDIA_URLS)
    contentSid: str | None = Field(default=None, max_length=34, description=channel_fields.CONTENT_SID)
    contentVariables: dict[str, Annotated[str, Field(max_length=1600)]] | None = Field(
        default=None, description=channel_fields.CONTENT_VARIABLES)
    sendAt: datetime | None = Field(default=None, description=channel_fields.SEND_AT)

    @model_validator(mode="after")
    def _body_or_template(self) -> SendRequest:
        # As when 'body' was required: a request with neither is malformed (422 invalid_request).
        if self.body is None and self.template is None and not self.mediaUrls and self.contentSid is None:
            # Raised as a missing `body` (not at the model) so the 422 names the field, as it did
            # when `body` was required.
            raise ValidationError.from_exception_data(type(self).__name__, [InitErrorDetails(
                type=PydanticCustomError("missing", "Field required: send a 'body' (or a 'template', 'mediaUrls' or a 'contentSid')"),
                loc=("body",), input=None)])
        return self


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
    channel: Channel = Field(default="sms", description="The channel it goes on (mms whenever it carries media)")
    sendAt: datetime | None = Field(default=None, description="When a scheduled message goes (status scheduled)")
    mediaUrls: list[str] = Field(default_factory=list, description="The media Twilio fetches and sends")
    contentSid: str | None = Field(default=None, description="The WhatsApp content template it goes as: the one "
                                                             "asked for, or its template's outside the 24-hour window")


# The codes a send can answer (service/outbound/messages.py, domain/admission.py).
SEND_ERRORS = ("invalid_characters", "empty_body", "body_too_long", "invalid_to_number", "invalid_from_number",
               "no_sender", "to_is_sender", "recipient_opted_out", "country_not_allowed", "landline_destination",
               "content_blocked", "idempotency_key_reused", "daily_cap_reached",
               "template_not_found", "template_archived", "template_variable_missing",
               "template_variable_unexpected", "template_variable_invalid", "template_with_body",
               "variables_without_template", "invalid_channel", "invalid_media", "too_many_media",
               "unsupported_media_file", "invalid_content", "no_channel_sender", "invalid_send_at",
               "whatsapp_window_closed")


@router.post("/messages", status_code=202, response_model=Accepted, responses=errors_for(*SEND_ERRORS, body=True))
async def send_message(req: SendRequest, request: Request, org_id: SendOrg, conn: Conn,
                       idempotency_key: Annotated[str | None, Header(max_length=255)] = None):
    """Accept a message for sending. The row and its send job commit together; the reply is 202."""
    rt = request.app.state.runtime
    status, body = await send(rt, conn, org_id, await deps.api_key(request), req, idempotency_key)
    return JSONResponse(status_code=status, content=body)


async def send(rt: Runtime, conn: AsyncConnection, org_id: str, token: str, req: SendRequest,
               idempotency_key: str | None) -> tuple[int, dict]:
    """The route's work once FastAPI (or web/fast_routes.py, which serves the same route without
    FastAPI's request machinery) has validated the request and found the key's org."""
    text, template = await template_sending.resolve(conn, org_id, body=req.body, template=req.template,
                                                    variables=req.variables)
    template, content = template_sending.content_of(template)
    status, body = await deps.accept_message(rt, token, org_id, conn, to=req.to, body=text if text is not None else "",
                                             from_=req.from_, idempotency_key=idempotency_key, metadata=template,
                                             status_callback=webhooks.check_url("statusCallback", req.statusCallback),
                                             extras=channel_fields.extras_for(rt.settings, req, content))
    body = held_on_accept.mark_held(body, await held_on_accept.hold_reason(
        rt, conn, await deps.tenancy_cache(rt).org(conn, org_id), channel=body.get("channel")))
    return status, body


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
    rendered = [(text, *template_sending.content_of(meta)) for text, meta in await template_sending.resolve_batch(
        conn, org_id, [(m.body, m.template, m.variables) for m in req.messages])]
    status, body = await batch.accept_batch_idempotent(conn, org_id, [(m.to, text, m.from_) for m, (text, _, _) in
                                                                      zip(req.messages, rendered)],
                                                       idempotency_key=idempotency_key,
                                                       extras=[extra for _, extra, _ in rendered],
                                                       status_callbacks=[webhooks.check_url("statusCallback", m.statusCallback)
                                                                         for m in req.messages],
                                                       channel_extras=[channel_fields.extras(request, m, content)
                                                                       for m, (_, _, content) in
                                                                       zip(req.messages, rendered)])
    rt = request.app.state.runtime
    org = await deps.tenancy_cache(rt).org(conn, org_id)
    reasons: dict[str | None, str | None] = {}  # each channel has its own switch (mmsDisabled, …)
    for r in body.get("results", []):
        if "id" in r and r.get("channel") not in reasons:
            reasons[r.get("channel")] = await held_on_accept.hold_reason(rt, conn, org, channel=r.get("channel"))
    body = {**body, "results": [held_on_accept.mark_held(r, reasons.get(r.get("channel"))) if "id" in r else r
                                for r in body.get("results", [])]}
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
                        limit: Annotated[int, Query(ge=1, le=500)] = 100, channel: Channel | None = None) -> dict:
    """The org's messages, newest first, `limit` a page; pass a page's `nextCursor` as `after`."""
    return await message_pages.page(conn, org_id, status=status, since=since, to=to, after=after, limit=limit,
                                   channel=channel)


class LintRequest(BaseModel):
    body: str = Field(json_schema_extra={"examples": ["Your code is 123456"]})


@router.post("/lint", tags=["content"], responses=errors_for(body=True))
async def lint(req: LintRequest, org_id: OrgId) -> dict:
    """Encoding, segments and content findings for a body, as Twilio would count them."""
    return content_lint.lint(req.body).to_dict()
