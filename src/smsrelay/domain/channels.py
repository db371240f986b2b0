"""Channels beyond SMS, as Twilio's Messages API carries them: MMS (SMS plus media) and WhatsApp
(addresses spelled `whatsapp:+E164`). Pure rules: which channel a request means, the form of its
media URLs, the WhatsApp customer-service window, how Twilio counts what it bills, and which org
switch disables which channel. No I/O, no clock (the caller passes `now`).

Twilio's limits (https://www.twilio.com/docs/messaging/guides/accepted-mime-types): at most 10
MediaUrl per message (21623 beyond); the message and its media together at most 5 MB on MMS and
16 MB on WhatsApp (63034 / 30019 / 11751 at Twilio's fetch); JPEG, PNG and GIF are formatted for
the handset, other types are passed on as they are. Twilio fetches the media, we never do: a URL
is checked in form only (https, a public host name, a type its extension names that the channel
carries), and what only a fetch can tell (size, the served Content-Type) is Twilio's to refuse,
with the codes in the catalogue.
"""

from __future__ import annotations

import ipaddress
import mimetypes
import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

SMS, MMS, WHATSAPP = "sms", "mms", "whatsapp"
CHANNELS = (SMS, MMS, WHATSAPP)
WHATSAPP_PREFIX = "whatsapp:"

MAX_MEDIA = 10
MAX_MEDIA_URL_LENGTH = 2048
# Total of the message and its media, as Twilio documents it per channel (bytes).
MAX_MEDIA_BYTES = {MMS: 5 * 1024 * 1024, WHATSAPP: 16 * 1024 * 1024}
# Free text is allowed within 24 hours of the person's last message to the sender.
WHATSAPP_WINDOW = timedelta(hours=24)

# Types Twilio formats for the handset on MMS; other MMS types go through unformatted.
MMS_FORMATTED = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif"})
MMS_ACCEPTED = MMS_FORMATTED | frozenset({
    "image/bmp", "image/tiff", "image/webp", "audio/basic", "audio/mpeg", "audio/mp4", "audio/ogg",
    "audio/amr", "audio/3gpp", "audio/wav", "audio/x-wav", "audio/vnd.wave", "video/mpeg", "video/mp4",
    "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2", "text/vcard", "text/x-vcard",
    "text/csv", "text/rtf", "text/richtext", "text/calendar", "text/plain", "application/pdf"})
# WhatsApp carries fewer types (Twilio's table): images, audio, video, documents.
WHATSAPP_ACCEPTED = frozenset({
    "image/jpeg", "image/jpg", "image/png", "audio/ogg", "audio/amr", "audio/mpeg", "audio/mp4", "audio/aac",
    "video/mp4", "video/3gpp", "application/pdf", "text/plain", "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation"})
ACCEPTED_TYPES = {MMS: MMS_ACCEPTED, WHATSAPP: WHATSAPP_ACCEPTED}

# The org switch that holds each channel's sends ("smsDisabled" keeps meaning SMS).
DISABLED_COLUMN = {SMS: "smsDisabled", MMS: "mmsDisabled", WHATSAPP: "whatsappDisabled"}


class ChannelError(ValueError):
    """A request that cannot be sent on its channel: `code` names the Problem, `field` the input."""

    def __init__(self, code: str, field: str, message: str):
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


def is_whatsapp(address: str | None) -> bool:
    return bool(address) and address.lower().startswith(WHATSAPP_PREFIX)


def bare(address: str) -> str:
    """The phone number inside a `whatsapp:` address (the address itself otherwise)."""
    return address[len(WHATSAPP_PREFIX):] if is_whatsapp(address) else address


def whatsapp_address(e164: str) -> str:
    return WHATSAPP_PREFIX + e164


def inbound_channel(from_: str, num_media: str | None) -> str:
    """The channel of a message Twilio brings in: its From says WhatsApp, its media MMS."""
    if is_whatsapp(from_):
        return WHATSAPP
    return MMS if (num_media or "0").strip() not in ("", "0") else SMS


def channel_of(requested: str | None, *, to: str, media_urls: list[str] | None) -> str:
    """The channel a send means: WhatsApp when asked for or addressed `whatsapp:`; otherwise MMS
    when it carries media (a message with media is an MMS whatever was asked), else SMS."""
    if requested is not None and requested not in CHANNELS:
        raise ChannelError("invalid_channel", "channel", f"channel is one of {', '.join(CHANNELS)}, not {requested!r}.")
    if requested == WHATSAPP or is_whatsapp(to):
        if requested not in (None, WHATSAPP):
            raise ChannelError("invalid_channel", "channel",
                               f"'to' is a WhatsApp address; channel must be whatsapp, not {requested!r}.")
        return WHATSAPP
    return MMS if media_urls else SMS


def _public_host(host: str) -> bool:
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." in host  # a name; Twilio resolves it, we do not
    return ip.is_global


def media_type(url: str) -> str | None:
    """The type the URL's file extension names, if it names one (None: Twilio will ask the server)."""
    guessed, _ = mimetypes.guess_type(posixpath.basename(urlsplit(url).path))
    return guessed


def check_media(channel: str, media_urls: list[str] | None) -> list[str]:
    """The media URLs as given, or ChannelError for the first that Twilio could not fetch or carry."""
    urls = list(media_urls or [])
    if not urls:
        return urls
    if channel == SMS:
        raise ChannelError("invalid_media", "mediaUrls", "An SMS carries no media; send it as mms.")
    if len(urls) > (1 if channel == WHATSAPP else MAX_MEDIA):
        limit = 1 if channel == WHATSAPP else MAX_MEDIA
        raise ChannelError("too_many_media", "mediaUrls",
                           f"A {channel} message carries at most {limit} media URL(s), not {len(urls)}.")
    for i, url in enumerate(urls):
        where = f"mediaUrls[{i}]"
        if len(url) > MAX_MEDIA_URL_LENGTH:
            raise ChannelError("invalid_media", where, f"{where} is longer than {MAX_MEDIA_URL_LENGTH} characters.")
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            raise ChannelError("invalid_media", where, f"{where} is not a URL.") from None
        if parts.scheme != "https" or not _public_host(host) or parts.username or parts.password:
            raise ChannelError("invalid_media", where,
                               f"{where} must be a public https URL Twilio can fetch (no credentials, no private host).")
        kind = media_type(url)
        if kind is not None and kind not in ACCEPTED_TYPES[channel]:
            raise ChannelError("unsupported_media_file", where,
                               f"{where} names {kind}, which Twilio does not carry on {channel}.")
    return urls


def window_open(last_inbound: datetime | None, now: datetime) -> bool:
    """WhatsApp's customer-service window: open for 24 hours after the person's last message."""
    return last_inbound is not None and now - last_inbound < WHATSAPP_WINDOW


@dataclass(frozen=True)
class Billing:
    """How Twilio counts a message: `segments` as its NumSegments shows, `unit` what it bills."""
    segments: int
    unit: str


def billing(channel: str, sms_segments: int) -> Billing:
    """An MMS is one message however long its text (up to 1600 characters); a WhatsApp message is
    one message too (Twilio bills WhatsApp per message plus Meta's conversation fee). Only SMS is
    billed by segment."""
    if channel == SMS:
        return Billing(sms_segments, "segment")
    return Billing(1, "message")
