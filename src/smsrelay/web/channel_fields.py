"""The public API's channel and scheduling fields of POST /v1/messages (issue 18): their types,
their documentation, and the Extras the use case receives (rules: service/outbound/channels.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import Field

from smsrelay.domain import channels
from smsrelay.service.outbound.channels import Extras

Channel = Literal["sms", "mms", "whatsapp"]
MediaUrl = Annotated[str, Field(min_length=9, max_length=channels.MAX_MEDIA_URL_LENGTH)]

CHANNEL = ("sms (default), mms or whatsapp. A message with mediaUrls goes as mms; a 'to' spelled "
           "whatsapp:+E164 goes on WhatsApp from the org's whatsapp: sender")
MEDIA_URLS = ("Up to 10 public https URLs Twilio fetches (1 on WhatsApp); 5 MB in all on MMS, 16 MB on WhatsApp; "
              "JPEG, PNG and GIF are formatted for the handset. Checked in form only: we never fetch them")
CONTENT_SID = ("An approved Twilio Content template (HX + 32 hex digits). Outside WhatsApp's 24-hour customer-service "
               "window only a template goes; the body may then be empty")
CONTENT_VARIABLES = "The template's variables, e.g. {\"1\": \"Ada\"} (Twilio's ContentVariables)"
SEND_AT = ("ISO 8601 with a time zone, 1 minute to 35 days ahead: the message is held by us in status scheduled "
           "until then (guards and throttles apply at send time) and can be canceled until it goes")


def extras(request: Request, req: Any, template_content: dict[str, Any] | None = None) -> Extras:
    return extras_for(request.app.state.runtime.settings, req, template_content)


def extras_for(settings: Any, req: Any, template_content: dict[str, Any] | None = None) -> Extras:
    return Extras(channel=req.channel, media_urls=tuple(req.mediaUrls or ()), content_sid=req.contentSid,
                  content_variables=req.contentVariables, send_at=req.sendAt, template_content=template_content,
                  schedule_min_seconds=settings.schedule_min_seconds, schedule_max_days=settings.schedule_max_days,
                  now=datetime.now(timezone.utc))

