"""TwiML answers to Twilio's webhooks, built with the SDK."""

from __future__ import annotations

from twilio.twiml.messaging_response import MessagingResponse


def messaging_response(reply: str | None) -> str:
    """An empty <Response/> (no auto-reply), or one <Message> carrying the reply."""
    twiml = MessagingResponse()
    if reply:
        twiml.message(reply)
    return str(twiml)
