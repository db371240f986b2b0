"""Inbound SMS: store it, honour opt-out keywords, and hand it to the org's own webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay import org_webhook
from smsrelay.domain import channels, ids, keywords, phone, segments
from smsrelay.service import problems
from smsrelay.service.outbound.messages import present
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundResult:
    outcome: str            # stored | duplicate | unknown-number
    reply: str | None       # text for a TwiML <Message>, if we answer
    message_id: str | None = None


# Twilio's message sids: SM (SMS) or MM (MMS) and 32 lower-case hex digits.
_SID = re.compile(r"(SM|MM)[0-9a-f]{32}")


def message_sid(params: Mapping[str, str]) -> str:
    """The inbound message's sid, which it must carry in exactly Twilio's shape.

    Twilio's signature covers the URL and every key and value run together, so the boundaries
    between them are not signed: a captured request can be re-split, its MessageSid folded into
    another value, and still verify. The sid is what makes a stored inbound unique (a replay is
    a duplicate, and a duplicate changes no opt-out state); a request without it, or with one
    stretched or disagreeing with its aliases, is refused rather than stored."""
    sid = params.get("MessageSid")
    if not sid:
        raise problems.MISSING_MESSAGE_SID()
    if not _SID.fullmatch(sid) or any(params.get(alias, sid) != sid for alias in ("SmsMessageSid", "SmsSid")):
        raise problems.INVALID_MESSAGE_SID()
    return sid


async def receive(conn: AsyncConnection, params: Mapping[str, str], *, forward_slots: int = 1) -> InboundResult:
    """`forward_slots`: how many of the org's forwards may be in flight at once (WEBHOOK_PER_ORG_CONCURRENCY).
    Opt-out state changes only with a new, signed sid: never on a duplicate, never without one."""
    sid = message_sid(params)
    to, from_ = params.get("To", ""), params.get("From", "")
    body = params.get("Body", "")
    async with conn.transaction():
        owner = await sql.one(conn, "org_by_number", number=to)
        if owner is None:
            log.warning("inbound to %s, which no org owns", phone.mask(to))
            return InboundResult("unknown-number", None)
        org = await sql.one(conn, "get_org", org_id=owner["orgId"])
        keyword = keywords.classify(body)
        info = segments.analyse(body) if body else None
        row = await sql.one(conn, "insert_inbound", id=ids.new_id("msg"), org_id=org["id"], from_=from_, to=to,
                            content=body, segments=int(params.get("NumSegments") or (info.segments if info else 1)),
                            encoding=info.encoding if info else "GSM-7", twilio_sid=sid,
                            metadata={"keyword": keyword, "fromCountry": params.get("FromCountry")},
                            channel=channels.inbound_channel(from_, params.get("NumMedia")))
        if row is None:
            return InboundResult("duplicate", _reply_for(keyword, org))
        if keyword == "opt_out":
            await sql.execute(conn, "insert_opt_out", org_id=org["id"], phone=from_, source="inbound:" + body.strip()[:20])
        elif keyword == "opt_in":
            await sql.execute(conn, "delete_opt_out", org_id=org["id"], phone=from_)
        # Forwarding to the org's inbound URL is the "message.received" event the insert's trigger
        # wrote (service/events/delivery.py: signed, retried, logged like status events).
    return InboundResult("stored", _reply_for(keyword, org), row["id"])


def _reply_for(keyword: str | None, org: dict) -> str | None:
    # Twilio answers STOP/START itself (Advanced Opt-Out); HELP is where the org speaks.
    if keyword == "help":
        return org["helpText"] or keywords.HELP_REPLY
    return None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


class ForwardFailed(Exception):
    pass


async def forward(rt: Runtime, message_id: str) -> str:
    """Only for forwards enqueued before migration 0020 (events deliver them since).
    POST the inbound message to the org's webhook, signed with the org's secret. Raises
    ForwardFailed so the job queue retries with backoff; never called on Twilio's request path."""
    async with rt.pool.connection() as conn:
        row = await sql.one(conn, "get_message_any_org", id=message_id)
        if row is None:
            return "missing"
        org = await sql.one(conn, "get_org", org_id=row["orgId"])
    url = org["inboundWebhookUrl"]
    if not url:
        return "no-webhook"
    payload = {"type": "message.received", "message": present(row)}
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Smsrelay-Timestamp": timestamp,
               "X-Smsrelay-Signature": sign(org["inboundWebhookSecret"], timestamp, body)}
    try:
        answer = await org_webhook.post(url, body, headers, org_webhook.Limits.from_settings(rt.settings))
    except org_webhook.WebhookRefused as exc:
        # Permanent until the org changes its URL: retrying would only knock on the same door.
        log.warning("inbound %s not forwarded to org %s: %s", message_id, org["id"], exc)
        async with rt.pool.connection() as conn:
            await sql.execute(conn, "merge_metadata", id=message_id,
                              metadata={"forwardError": {"code": exc.code, "message": str(exc)}})
        return "refused"
    except org_webhook.WebhookFailed as exc:
        raise ForwardFailed(str(exc)) from exc
    if answer.status >= 300:
        # Redirects are not followed (each hop would need the address check again): a 3xx fails.
        raise ForwardFailed(f"org webhook answered {answer.status}")
    async with rt.pool.connection() as conn:
        await sql.execute(conn, "merge_metadata", id=message_id, metadata={"forwardedAt": _now_iso()})
    return "forwarded"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()
