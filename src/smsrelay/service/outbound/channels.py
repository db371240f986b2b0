"""What a send's channel (SMS, MMS, WhatsApp), media, content template and send time add to
accepting it: messages.plan and messages.accept call `prepare` once, and `window` reads the one
fact only the database knows (the person's last WhatsApp message to the org).

The rules are domain/channels.py's; here they become Problems, the parameters accept_message
stores ("channel", "status", "sendAt", the SendQueue row's due time) and the "metadata" dispatch
reads back to call Twilio (mediaUrls, contentSid, contentVariables).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import channels, lint, phone
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql
from smsrelay.domain.timestamps import iso as _iso

# Twilio's Content API sids: HX and 32 hex digits.
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
MAX_CONTENT_VARIABLES = 100


@dataclass(frozen=True)
class Extras:
    """The fields of POST /v1/messages beyond to/body/from, as the request gave them."""
    channel: str | None = None
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None
    send_at: datetime | None = None
    # A message template's WhatsApp content ({"contentSid", "contentVariables"}): what a send by
    # template goes as outside the 24-hour window (service/templates/sending.py). Not hashed: it
    # follows from the template and variables the stored body was rendered from.
    template_content: dict[str, Any] | None = None
    # Bounds of sendAt (settings), and the clock the request is judged by.
    schedule_min_seconds: float = 60.0
    schedule_max_days: float = 35.0
    now: datetime | None = None

    @property
    def plain(self) -> bool:
        """An SMS with nothing of this issue's: accepting it is exactly what it was before."""
        return (self.channel in (None, channels.SMS) and not self.media_urls and self.content_sid is None
                and self.content_variables is None and self.send_at is None)

    def hashed(self) -> dict[str, Any]:
        """What goes into the idempotency hash (nothing for a plain SMS, so its hash is unchanged)."""
        if self.plain:
            return {}
        return {"channel": self.channel, "mediaUrls": list(self.media_urls), "contentSid": self.content_sid,
                "contentVariables": self.content_variables,
                "sendAt": self.send_at.isoformat() if self.send_at else None}


PLAIN = Extras()


@dataclass
class Prepared:
    """A send's channel facts, checked: what plan/accept store and dispatch reads back."""
    channel: str
    number: str                 # the recipient's phone number, as the org's region parses it
    senders: list[dict[str, Any]]  # the org's senders for this channel
    status: str = "queued"
    send_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    needs_window: bool = False  # WhatsApp free text: only within 24 h of the person's last message
    fallback: dict[str, Any] | None = None  # a template's content template, for a closed window

    def address(self, e164: str) -> str:
        return channels.whatsapp_address(e164) if self.channel == channels.WHATSAPP else e164

    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel}
        if self.send_at is not None:
            out["sendAt"] = _iso(self.send_at)
        if self.metadata.get("mediaUrls"):
            out["mediaUrls"] = self.metadata["mediaUrls"]
        if self.metadata.get("contentSid"):
            out["contentSid"] = self.metadata["contentSid"]
        return out

    def use_fallback(self) -> dict[str, Any]:
        """The window is closed and the template has a content template: it goes as that."""
        assert self.fallback is not None
        content = {"contentSid": self.fallback["contentSid"]}
        if self.fallback.get("contentVariables"):
            content["contentVariables"] = self.fallback["contentVariables"]
        self.metadata.update(content)
        self.needs_window = False
        return content


def _problem(exc: channels.ChannelError) -> Problem:
    kind = {"invalid_channel": problems.INVALID_CHANNEL, "invalid_media": problems.INVALID_MEDIA,
            "too_many_media": problems.TOO_MANY_MEDIA,
            "unsupported_media_file": problems.UNSUPPORTED_MEDIA_FILE}[exc.code]
    return kind(message=exc.message, field=exc.field)


def senders_for(channel: str, senders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A WhatsApp send goes from a `whatsapp:` sender, SMS and MMS from the others."""
    whatsapp = channel == channels.WHATSAPP
    return [s for s in senders if channels.is_whatsapp(s["number"]) == whatsapp]


def prepare(org: dict[str, Any], extras: Extras, *, to: str, body: str | None) -> Prepared:
    """The channel facts of one send, or the Problem that refuses it (before any database)."""
    try:
        channel = channels.channel_of(extras.channel, to=to, media_urls=list(extras.media_urls))
        media = channels.check_media(channel, list(extras.media_urls))
    except channels.ChannelError as exc:
        raise _problem(exc) from None
    senders = senders_for(channel, org["senders"])
    if not senders and channel == channels.WHATSAPP:
        raise problems.NO_CHANNEL_SENDER(channel=channel, example="whatsapp:+14155238886")
    prepared = Prepared(channel, channels.bare(to), senders)
    if media:
        prepared.metadata["mediaUrls"] = media
    _content(prepared, extras, body)
    _schedule(prepared, extras)
    return prepared


def _content(prepared: Prepared, extras: Extras, body: str | None) -> None:
    if extras.content_variables is not None and extras.content_sid is None:
        raise problems.INVALID_CONTENT(message="contentVariables needs the contentSid of the template it fills.",
                                       field="contentVariables")
    if extras.content_sid is not None:
        if not _CONTENT_SID.fullmatch(extras.content_sid):
            raise problems.INVALID_CONTENT(message="contentSid is a Twilio Content sid: HX and 32 hex digits.",
                                           field="contentSid")
        variables = extras.content_variables or {}
        if len(variables) > MAX_CONTENT_VARIABLES or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in variables.items()):
            raise problems.INVALID_CONTENT(
                message=f"contentVariables maps at most {MAX_CONTENT_VARIABLES} names to strings.",
                field="contentVariables")
        prepared.metadata["contentSid"] = extras.content_sid
        if variables:
            prepared.metadata["contentVariables"] = variables
    elif prepared.channel == channels.WHATSAPP:
        prepared.needs_window = True
        prepared.fallback = extras.template_content


def _schedule(prepared: Prepared, extras: Extras) -> None:
    if extras.send_at is None:
        return
    send_at = extras.send_at
    if send_at.tzinfo is None:
        raise problems.INVALID_SEND_AT(message="sendAt needs a time zone (ISO 8601, e.g. 2026-05-01T09:00:00Z).",
                                       field="sendAt")
    now = extras.now or datetime.now(timezone.utc)
    earliest = now + timedelta(seconds=extras.schedule_min_seconds)
    latest = now + timedelta(days=extras.schedule_max_days)
    if not earliest <= send_at <= latest:
        raise problems.INVALID_SEND_AT(
            message=f"sendAt must be from {_lead(extras.schedule_min_seconds)} to {extras.schedule_max_days:g} days "
                    "ahead.", field="sendAt", earliest=_iso(earliest), latest=_iso(latest))
    prepared.status = "scheduled"
    prepared.send_at = send_at.astimezone(timezone.utc)


def _lead(seconds: float) -> str:
    return f"{seconds / 60:g} minute(s)" if seconds >= 60 else f"{seconds:g} second(s)"


def body_required(prepared: Prepared) -> bool:
    """Media or a content template can go without text, as Twilio takes them."""
    return not prepared.metadata.get("mediaUrls") and not prepared.metadata.get("contentSid")


async def window(conn: AsyncConnection, org_id: str, prepared: Prepared, to: str, sender: str | None,
                 now: datetime | None = None) -> Problem | None:
    """WHATSAPP_WINDOW_CLOSED when the person (`to`, a whatsapp: address) has not written to this
    sender within 24 hours; None when the window is open or the send needs none. A send by a
    template with WhatsApp content goes as free text within the window and, outside it, as that
    content template (`prepared` then carries its ContentSid and ContentVariables)."""
    if not prepared.needs_window:
        return None
    row = await sql.one(conn, "whatsapp_last_inbound", org_id=org_id, person=to, sender=sender)
    last = row["lastAt"] if row else None
    if channels.window_open(last, now or datetime.now(timezone.utc)):
        return None
    if prepared.fallback is not None:
        prepared.use_fallback()
        return None
    return problems.WHATSAPP_WINDOW_CLOSED(masked=phone.mask(channels.bare(to)),
                                           lastInboundAt=_iso(last) if last else None)


def parse_variables(raw: str | dict[str, str] | None) -> dict[str, str] | None:
    """contentVariables as Twilio takes it (a JSON object in a string) or as a JSON object."""
    if raw is None or isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        raise problems.INVALID_CONTENT(message="contentVariables is not JSON.", field="contentVariables") from None
    if not isinstance(value, dict):
        raise problems.INVALID_CONTENT(message="contentVariables is a JSON object.", field="contentVariables")
    return value


async def window_in_plan(conn: AsyncConnection, plan: Any, org_id: str, now: datetime | None = None) -> None:
    """For messages.plan's single statement: a closed window becomes the plan's problem, so the
    statement still counts the request and replays an idempotent answer before it is raised."""
    prepared = plan.prepared
    if prepared is None or not prepared.needs_window or not plan.params["proceed"]:
        return
    fallback = prepared.fallback
    closed = await window(conn, org_id, prepared, plan.params["to"], plan.params["sender"], now)
    if closed is not None:
        plan.problem = closed
        plan.params["proceed"] = False
    elif fallback is not None and not prepared.needs_window:  # goes as the template's content template
        content = {k: v for k, v in prepared.metadata.items() if k in ("contentSid", "contentVariables")}
        for suffix in ("first", "repeat"):
            plan.params[f"metadata_{suffix}"] = {**plan.params[f"metadata_{suffix}"], **content}
            plan.params[f"response_{suffix}"] = {**plan.params[f"response_{suffix}"],
                                                 "contentSid": content["contentSid"]}
        plan.responses = {first: plan.params["response_first" if first else "response_repeat"]
                          for first in plan.responses}


def send_params(meta: dict[str, Any]) -> dict[str, Any]:
    """What dispatch adds to the Twilio request from the stored message's "metadata"."""
    params: dict[str, Any] = {}
    if meta.get("mediaUrls"):
        params["media_urls"] = list(meta["mediaUrls"])
    if meta.get("contentSid"):
        params["content_sid"] = meta["contentSid"]
        if meta.get("contentVariables"):
            params["content_variables"] = json.dumps(meta["contentVariables"], separators=(",", ":"))
    return params


def lint_both(body: str, prepared: Prepared) -> tuple[lint.LintResult, lint.LintResult]:
    """lint.lint_both, without the empty-body error when media or a template carries the message."""
    first, later = lint.lint_both(body)
    if body_required(prepared):
        return first, later
    return lint.without(first, "empty_body"), lint.without(later, "empty_body")
