"""Twilio's webhooks: check the signature, store, answer fast.

Handlers only validate and hand over to the service; anything slow (forwarding to the org)
is a job, so Twilio's request never waits on a third party.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from smsrelay.service import callbacks, inbound
from smsrelay.service.problems import Problem
from smsrelay.twilio import signature
from smsrelay.web.deps import Conn

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])

TWIML = "application/xml"


async def _verified_form(request: Request) -> dict[str, str]:
    form = await request.form()
    params = {k: str(v) for k, v in form.multi_items()}
    settings = request.app.state.runtime.settings
    url = signature.public_url(settings.public_base_url, request.url.path, request.url.query)
    if not signature.is_valid(settings.twilio_auth_token, url, params, request.headers.get("x-twilio-signature")):
        raise Problem(403, "invalid_signature", "Missing or invalid X-Twilio-Signature.")
    return params


@router.post("/status", status_code=200)
async def status_callback(request: Request, conn: Conn) -> Response:
    """Twilio's StatusCallback. Duplicates and stale statuses are accepted and change nothing."""
    params = await _verified_form(request)
    await callbacks.apply_status_callback(
        conn, params, message_id=request.query_params.get("messageId"),
        idempotency_token=request.headers.get("i-twilio-idempotency-token"))
    return Response(status_code=200)


@router.post("/inbound", status_code=200)
async def inbound_sms(request: Request, conn: Conn) -> Response:
    """An SMS to one of our numbers. Answered with TwiML: empty, or the org's HELP text."""
    params = await _verified_form(request)
    result = await inbound.receive(conn, params)
    twiml = MessagingResponse()
    if result.reply:
        twiml.message(result.reply)
    return Response(content=str(twiml), media_type=TWIML)
