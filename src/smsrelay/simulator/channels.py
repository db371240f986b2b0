"""MMS and WhatsApp in the simulator, as Twilio's Messages API carries them.

- A `whatsapp:+E164` To or From is a WhatsApp message; its number is checked without the prefix,
  and the prefix is kept, as Twilio keeps it on the resource and in callbacks.
- WhatsApp's customer-service window: free text (no ContentSid) to a person who has not written
  to the sender within 24 hours is accepted (201) and then fails with 63016, as Twilio does.
  The window opens with every inbound WhatsApp message the simulator sends (POST /_sim/inbound).
- A WhatsApp message that is delivered is then read: a `read` status callback follows.
- MediaUrl: at most 10 (21623), 1 on WhatsApp; an MMS is one segment, priced as one message.
  The simulator never fetches media (nor does Twilio here); the fault scenarios for media
  (media_content_type 12300, media_unreachable 11200, media_too_large 30019) stand in for what
  Twilio's fetch would find.
"""

from __future__ import annotations

import re
import time

from smsrelay.domain import channels

WINDOW_SECONDS = 24 * 3600
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


def channel(to: str | None, media: int) -> str:
    if channels.is_whatsapp(to):
        return channels.WHATSAPP
    return channels.MMS if media else channels.SMS


def bare(address: str) -> str:
    return channels.bare(address)


def keep_prefix(raw: str, e164: str) -> str:
    return channels.whatsapp_address(e164) if channels.is_whatsapp(raw) else e164


def refusal(to: str, from_: str | None, media_urls: tuple[str, ...],
            content_sid: str | None) -> tuple[int, str] | None:
    """Twilio's synchronous refusal (code, message; HTTP 400) of a media or WhatsApp create."""
    whatsapp = channels.is_whatsapp(to)
    if from_ and channels.is_whatsapp(from_) != whatsapp:
        return 21910, "Invalid From and To pair. From and To should be of the same channel"
    if len(media_urls) > (1 if whatsapp else channels.MAX_MEDIA):
        return 21623, "Number of media files exceeds allowed limit"
    if any(not u.lower().startswith(("https://", "http://")) for u in media_urls):
        return 21620, "Invalid media URL(s)"
    if content_sid is not None and not _CONTENT_SID.fullmatch(content_sid):
        return 21655, "The ContentSid is Invalid"
    return None


class Windows:
    """When each person last wrote to each WhatsApp sender."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}

    def clear(self) -> None:
        self._last.clear()

    def inbound(self, person: str, sender: str, at: float | None = None) -> None:
        if channels.is_whatsapp(person):
            self._last[(person, sender)] = time.time() if at is None else at

    def open(self, person: str, sender: str, now: float | None = None) -> bool:
        last = self._last.get((person, sender))
        return last is not None and (time.time() if now is None else now) - last < WINDOW_SECONDS

    def closed_for(self, to: str, sender: str, content_sid: str | None) -> bool:
        """Free text to a WhatsApp person outside the window (Twilio then fails it with 63016)."""
        return channels.is_whatsapp(to) and content_sid is None and not self.open(to, sender)
