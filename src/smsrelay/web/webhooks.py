"""Twilio's webhooks: check the signature, store, answer fast.

Handlers only validate and hand over to the service; anything slow (forwarding to the org)
is a job, so Twilio's request never waits on a third party.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from smsrelay.service.delivery import callback_batches, status_callbacks as callbacks, inbound
from smsrelay.service import problems
from smsrelay.twilio import signature, twiml

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio webhooks"])

TWIML = "application/xml"


FORM = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # as Starlette's own form parser


def form_fields(raw: bytes) -> dict[str, str]:
    # What Twilio always sends: the standard library parses it in a fraction of the time
    # Starlette's streaming form parser takes (6 % of the callback endpoint's CPU).
    try:
        return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except ValueError:
        raise problems.INVALID_FORM(max_fields=MAX_FIELDS) from None


def is_form(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() == FORM


async def _form(request: Request) -> dict[str, str]:
    if is_form(request.headers.get("content-type", "")):
        return form_fields(await request.body())
    form = await request.form()
    return {k: str(v) for k, v in form.multi_items()}


def verify(settings, path: str, query: str, params: dict[str, str], given: str | None) -> None:
    url = signature.public_url(settings.public_base_url, path, query)
    if not signature.is_valid(settings.twilio_auth_token, url, params, given):
        raise problems.INVALID_SIGNATURE()


async def _verified_form(request: Request) -> dict[str, str]:
    params = await _form(request)
    verify(request.app.state.runtime.settings, request.url.path, request.url.query, params,
           request.headers.get("x-twilio-signature"))
    return params


# The webhooks take their database connection only once the signature holds, so a flood of
# unsigned requests cannot occupy the pool (and FastAPI's per-request dependency machinery,
# 12 % of the callback endpoint's CPU, is skipped).

@router.post("/status", status_code=200)
async def status_callback(request: Request) -> Response:
    """Twilio's StatusCallback. Duplicates and stale statuses are accepted and change nothing."""
    params = await _verified_form(request)
    await apply_status(request.app.state.runtime, params, message_id=request.query_params.get("messageId"),
                       idempotency_token=request.headers.get("i-twilio-idempotency-token"))
    return Response(status_code=200)


async def apply_status(rt, params: dict[str, str], *, message_id: str | None, idempotency_token: str | None) -> None:
    """A verified callback, answered once its event is committed (web/fast_routes.py serves the
    route without FastAPI and calls this too)."""
    callback = callbacks.parse(params, message_id=message_id, idempotency_token=idempotency_token)
    if not isinstance(callback, str):
        # Answered once the event is committed, together with the callbacks that arrived meanwhile.
        await callback_batches.for_pool(rt.pool).apply(callback)


@router.post("/inbound", status_code=200)
async def inbound_sms(request: Request) -> Response:
    """An SMS to one of our numbers. Answered with TwiML: empty, or the org's HELP text."""
    params = await _verified_form(request)
    inbound.message_sid(params)  # refused before it takes a connection
    rt = request.app.state.runtime
    async with rt.pool.connection() as conn:
        result = await inbound.receive(conn, params, forward_slots=rt.settings.webhook_per_org_concurrency)
    return Response(content=twiml.messaging_response(result.reply), media_type=TWIML)
