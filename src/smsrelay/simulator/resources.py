"""Twilio 2010-04-01 JSON shapes: Message, Account, Balance, IncomingPhoneNumber, errors, pages."""

from __future__ import annotations

import json
from email.utils import formatdate
from functools import lru_cache
from urllib.parse import urlencode

from fastapi.responses import JSONResponse, Response

from .state import Message, PhoneNumber

API = "/2010-04-01"
API_VERSION = "2010-04-01"


def rfc2822(ts: float | None) -> str | None:
    """Twilio's date format: 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    if ts is None:
        return None
    return _rfc2822_second(int(ts))


@lru_cache(maxsize=256)
def _rfc2822_second(second: int) -> str:
    # The format has whole seconds, and a burst of messages shares a handful of them.
    return formatdate(second, usegmt=False).replace("-0000", "+0000")


# Starlette's JSONResponse encoding, with one encoder for the process rather than one per call.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def json_response(content: dict, status_code: int = 200) -> Response:
    return Response(_encode(content).encode(), status_code=status_code, media_type="application/json")


def error_message(code: int, fallback: str = "") -> str:
    from smsrelay.domain import catalogue

    entry = catalogue.lookup(code)
    return entry.message if entry else fallback or f"Error {code}"


def error_body(code: int, http_status: int, message: str | None = None) -> dict:
    return {
        "code": code,
        "message": message or error_message(code),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": http_status,
    }


def error_response(code: int, http_status: int, message: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, http_status, message), status_code=http_status, headers=headers)


def message_uri(account_sid: str, sid: str) -> str:
    return f"{API}/Accounts/{account_sid}/Messages/{sid}.json"


def message_json(m: Message) -> dict:
    uri = message_uri(m.account_sid, m.sid)
    return {
        "account_sid": m.account_sid,
        "api_version": API_VERSION,
        "body": m.body,
        "date_created": rfc2822(m.date_created),
        "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_updated),
        "direction": m.direction,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "from": m.from_,
        "messaging_service_sid": m.messaging_service_sid,
        "num_media": str(m.num_media),
        # Messages through a Messaging Service report 0 until a sender is assigned.
        "num_segments": str(m.num_segments if m.from_ else 0),
        "price": m.price,
        "price_unit": "USD",
        "sid": m.sid,
        "status": m.status,
        "subresource_uris": {
            "media": uri.replace(".json", "/Media.json"),
            "feedback": uri.replace(".json", "/Feedback.json"),
        },
        "to": m.to,
        "uri": uri,
    }


def account_json(account_sid: str, status: str, created: float, auth_token: str) -> dict:
    base = f"{API}/Accounts/{account_sid}"
    return {
        "auth_token": auth_token,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(created),
        "friendly_name": "smsrelay simulator",
        "owner_account_sid": account_sid,
        "sid": account_sid,
        "status": status,
        "subresource_uris": {
            "balance": f"{base}/Balance.json",
            "incoming_phone_numbers": f"{base}/IncomingPhoneNumbers.json",
            "messages": f"{base}/Messages.json",
        },
        "type": "Full",
        "uri": f"{base}.json",
    }


def balance_json(account_sid: str, balance: str, currency: str) -> dict:
    return {"account_sid": account_sid, "balance": balance, "currency": currency}


def number_json(account_sid: str, n: PhoneNumber) -> dict:
    uri = f"{API}/Accounts/{account_sid}/IncomingPhoneNumbers/{n.sid}.json"
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"fax": False, "mms": n.sms_capable and n.kind != "short_code",
                         "sms": n.sms_capable, "voice": n.kind != "short_code"},
        "date_created": rfc2822(n.date_created),
        "date_updated": rfc2822(n.date_updated),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": n.friendly_name,
        "identity_sid": None,
        "origin": n.origin,
        "phone_number": n.phone_number,
        "sid": n.sid,
        "sms_application_sid": None,
        "sms_fallback_method": "POST",
        "sms_fallback_url": None,
        "sms_method": n.sms_method,
        "sms_url": n.sms_url,
        "status": n.status,
        "status_callback": n.status_callback,
        "status_callback_method": "POST",
        "trunk_sid": None,
        "type": {"long_code": "local", "toll_free": "tollfree", "short_code": "shortcode"}.get(n.kind, "local"),
        "uri": uri,
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": None,
    }


def page_json(key: str, items: list[dict], *, path: str, filters: dict[str, str],
              page: int, page_size: int, total: int) -> dict:
    """A Twilio list page; `next_page_uri` is what the SDK's stream()/list() follow."""

    def uri(p: int, token: bool = False) -> str:
        q = dict(filters)
        q.update({"PageSize": str(page_size), "Page": str(p)})
        if token:
            q["PageToken"] = f"PA{p}"
        return f"{path}?{urlencode(q)}"

    start = page * page_size
    has_next = start + len(items) < total
    return {
        key: items,
        "end": start + max(len(items), 1) - 1 if items else start,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, token=True) if has_next else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1, token=True) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }
