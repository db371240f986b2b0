"""Twilio REST 2010-04-01 routes: Accounts, Balance, Messages, IncomingPhoneNumbers."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import date, datetime, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from smsrelay.domain import phone

from .engine import AnswerLost, Engine, OutboundRequest, TwilioFault
from .resources import (
    API, account_json, balance_json, error_response, json_response, message_json, number_json,
    page_json,
)
from .state import Message


class AuthError(Exception):
    pass


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def credentials_ok(engine: Engine, header: str) -> bool:
    """Basic auth with the account SID and auth token, as Twilio requires."""
    if secrets.compare_digest(header.encode(), engine.expected_authorization):
        return True  # the form every SDK sends; the general parse below covers the rest
    user = password = ""
    if header.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:  # binascii.Error, UnicodeDecodeError, or non-ASCII base64
            pass
    s = engine.settings
    return (secrets.compare_digest(user, s.twilio_account_sid)
            and secrets.compare_digest(password, s.twilio_auth_token))


def check_access(engine: Engine, header: str, account_sid: str, path: str) -> None:
    if not credentials_ok(engine, header):
        raise TwilioFault(20003, 401, "Authenticate")
    if account_sid != engine.settings.twilio_account_sid:
        raise TwilioFault(20404, 404, f"The requested resource {path} was not found")


async def authenticate(AccountSid: str, request: Request) -> Engine:
    # async: a sync dependency would cost a thread-pool hop on every request.
    engine = engine_of(request)
    check_access(engine, request.headers.get("authorization", ""), AccountSid, request.url.path)
    return engine


Authed = Depends(authenticate)
router = APIRouter(prefix=f"{API}/Accounts")


def _page_args(request: Request) -> tuple[int, int]:
    q = request.query_params
    try:
        size = max(1, min(int(q.get("PageSize", 50)), 1000))
        page = max(0, int(q.get("Page", 0)))
    except ValueError:
        raise TwilioFault(20001, 400, "Invalid paging parameters") from None
    return page, size


def _paged(request: Request, key: str, rows: list[dict], filters: dict[str, str]) -> dict:
    page, size = _page_args(request)
    start = page * size
    return page_json(key, rows[start:start + size], path=request.url.path, filters=filters,
                     page=page, page_size=size, total=len(rows))


# --- Account, Balance --------------------------------------------------------------------------
@router.get("/{AccountSid}.json")
def fetch_account(AccountSid: str, engine: Engine = Authed):
    s = engine.settings
    return account_json(s.twilio_account_sid, engine.account_status(), engine.state.created_at,
                        s.twilio_auth_token)


@router.get("/{AccountSid}/Balance.json")
def fetch_balance(AccountSid: str, engine: Engine = Authed):
    return balance_json(engine.state.account_sid, engine.balance(), engine.cfg.currency)


# --- Messages ----------------------------------------------------------------------------------
@router.post("/{AccountSid}/Messages.json", status_code=201)
async def create_message(AccountSid: str, request: Request, engine: Engine = Authed):
    # Form bodies the SDK sends take the fast path in app.py; this route serves the others
    # (multipart, for one) and keeps the operation in the simulator's OpenAPI document.
    form = await request.form()
    return await create_from_form(engine, form.get, [str(v) for v in form.getlist("MediaUrl")])


def outbound_request(get: Callable[[str], object], media_urls: list[str]) -> OutboundRequest:
    return OutboundRequest(
        to=get("To"), from_=get("From"), body=get("Body"),
        messaging_service_sid=get("MessagingServiceSid"),
        status_callback=get("StatusCallback"),
        validity_period=get("ValidityPeriod"),
        media_urls=tuple(media_urls),
        content_sid=get("ContentSid"),
        content_variables=get("ContentVariables"),
    )


async def create_from_form(engine: Engine, get: Callable[[str], object], media_urls: list[str]) -> Response:
    """Messages create from its form fields; a TwilioFault propagates to the caller."""
    try:
        msg = engine.create_message(outbound_request(get, media_urls))
    except AnswerLost as lost:
        if lost.hang:
            await engine.hang(engine.cfg.outage_hang_seconds)
        return error_response(lost.code, lost.http_status)
    return json_response(message_json(msg), 201)


@router.get("/{AccountSid}/Messages/{Sid}.json")
def fetch_message(AccountSid: str, Sid: str, request: Request, engine: Engine = Authed):
    msg = engine.state.messages.get(Sid)
    if msg is None:
        raise TwilioFault(20404, 404, f"The requested resource {request.url.path} was not found")
    return message_json(msg)


def _parse_when(raw: str) -> tuple[datetime | date, bool]:
    raw = raw.strip()
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw), True
        return datetime.fromisoformat(raw.replace("Z", "+00:00")), False
    except ValueError:
        raise TwilioFault(20001, 400, f"Invalid DateSent value {raw!r}") from None


def _date_ok(m: Message, op: str, raw: str) -> bool:
    if m.date_sent is None:
        return False
    sent = datetime.fromtimestamp(m.date_sent, tz=timezone.utc)
    when, is_date = _parse_when(raw)
    if op == "=" or is_date:
        left, right = sent.date(), (when if is_date else when.date())
    else:
        left, right = sent, (when if when.tzinfo else when.replace(tzinfo=timezone.utc))
    return {"=": left == right, "<": left <= right, ">": left >= right}[op]


@router.get("/{AccountSid}/Messages.json")
def list_messages(AccountSid: str, request: Request, engine: Engine = Authed):
    q = request.query_params
    filters = {k: q[k] for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if q.get(k)}
    rows = []
    for m in reversed(list(engine.state.messages.values())):  # newest first, as Twilio lists
        if "To" in filters and m.to != filters["To"]:
            continue
        if "From" in filters and m.from_ != filters["From"]:
            continue
        if not all(_date_ok(m, op, filters[key]) for key, op in
                   (("DateSent", "="), ("DateSent<", "<"), ("DateSent>", ">")) if key in filters):
            continue
        rows.append(message_json(m))
    return _paged(request, "messages", rows, filters)


# --- IncomingPhoneNumbers ----------------------------------------------------------------------
@router.get("/{AccountSid}/IncomingPhoneNumbers.json")
def list_numbers(AccountSid: str, request: Request, engine: Engine = Authed):
    want = request.query_params.get("PhoneNumber")
    rows = []
    for n in list(engine.state.numbers.values()):
        if want and want.strip() not in n.phone_number:
            continue
        engine.number_view(n.phone_number)
        rows.append(number_json(engine.state.account_sid, n))
    return _paged(request, "incoming_phone_numbers", rows, {"PhoneNumber": want} if want else {})


@router.get("/{AccountSid}/IncomingPhoneNumbers/{Sid}.json")
def fetch_number(AccountSid: str, Sid: str, request: Request, engine: Engine = Authed):
    n = engine.state.number_by_sid(Sid)
    if n is None:
        raise TwilioFault(20404, 404, f"The requested resource {request.url.path} was not found")
    engine.number_view(n.phone_number)
    return number_json(engine.state.account_sid, n)


@router.post("/{AccountSid}/IncomingPhoneNumbers.json", status_code=201)
async def create_number(AccountSid: str, request: Request, engine: Engine = Authed):
    form = await request.form()
    raw = form.get("PhoneNumber")
    if not raw:
        raise TwilioFault(21452, 400, "A PhoneNumber or AreaCode is required")
    raw = str(raw)
    kind = phone.sender_kind(raw)
    if kind != "short_code":
        checked = phone.check(raw, "US")
        if not checked.valid:
            raise TwilioFault(21421, 400, "PhoneNumber is invalid")
        raw = checked.e164 or raw
    n = engine.state.add_number(raw, kind, sms_url=form.get("SmsUrl"),
                                friendly_name=form.get("FriendlyName"),
                                status_callback=form.get("StatusCallback"))
    return JSONResponse(number_json(engine.state.account_sid, n), status_code=201)


def install_fault_handler(app) -> None:
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from fastapi.exception_handlers import http_exception_handler

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        # Unknown REST routes answer like Twilio; admin routes keep FastAPI's shape.
        if request.url.path.startswith(API + "/"):
            code = {404: 20404, 405: 20004}.get(exc.status_code, 20001)
            msg = (f"The requested resource {request.url.path} was not found"
                   if exc.status_code == 404 else str(exc.detail))
            return error_response(code, exc.status_code, msg)
        return await http_exception_handler(request, exc)

    @app.exception_handler(TwilioFault)
    async def _fault(request: Request, exc: TwilioFault):
        return fault_response(exc)


def fault_response(exc: TwilioFault) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if exc.http_status == 401 else None
    return error_response(exc.code, exc.http_status, exc.message, headers=headers)
