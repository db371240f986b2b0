"""Twilio error codes as data: what each means, who fixes it, whether to retry.

Every code of Twilio's Programmable Messaging error dictionary that a message or a Messages
API call can carry (SMS, MMS, WhatsApp), by family in ``catalogue_codes/``; ``source`` is the
Twilio page each entry's texts were read from, or says that no page was found and what the texts
rest on instead. ``retry_rule`` says what our system does with it, and is
kept true by tests/domain/test_catalogue_complete.py against service/outbound/dispatch.py.

Messages are Twilio's own titles from https://www.twilio.com/docs/api/errors;
meanings follow Twilio's page for the code, and the runbook table (../shared/runbook/messaging-failures-twilio.md)
where it has the code. Two codes deliberately depart from the runbook, because
we follow Twilio's current behaviour where the runbook is out of date:

* 21408 is listed in the runbook's "retry failed messages" query, but Twilio
  defines it as "Message blocked: permissions disabled for the destination
  region": a Geo Permissions setting on the account.
  Retrying cannot succeed until someone changes that setting, so it is not
  retryable.
* 21608 is "Messaging to this country not allowed" in the runbook, but Twilio
  defines it as "The 'To' phone number provided is not yet verified for this
  account" (a trial account, or one without an approved primary compliance
  profile). The fix is on the account, so its cause is "account", not
  "geo_permissions".

``http_status`` is set for errors Twilio returns synchronously from
``messages.create``; ``final_status`` is set for errors that arrive on a status
callback together with the message's final status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from smsrelay.domain.catalogue_codes import account_api, channel, delivery, media, request

CAUSES = (
    "workers_not_running",
    "account",
    "sms_pumping",
    "sender_number",
    "content_filtering",
    "rate_limiting",
    "geo_permissions",
    "channel_rules",
    "destination",
    "provider_outage",
    "pipeline_stalled",
    "request",
    "media",
    "channel",
    "unknown_code",
    "code_surge",
    "none",
)


@dataclass(frozen=True)
class TwilioError:
    code: int
    message: str
    meaning: str
    action: str
    retryable: bool
    max_retries: int
    cause: str
    http_status: int | None
    final_status: str | None
    source: str = ""  # the Twilio page the texts were read from, or why there is none

    @property
    def source_read(self) -> bool:
        """True when the texts were checked against Twilio's own page for the code."""
        return self.source.startswith("https://")

    @property
    def retry_rule(self) -> str:
        """What our system actually does with a message that failed with this code."""
        if self.http_status is not None and self.retryable:
            return (f"retried automatically by the worker, up to {self.max_retries} times with backoff; "
                    "then failed, and `smsrelay retry` may re-send it")
        if self.retryable:
            return (f"not retried automatically (a status callback is final); `smsrelay retry` re-sends it, "
                    f"at most {self.max_retries} time(s) per message")
        return ("never retried: a re-send fails the same way until the cause is fixed; after the fix, "
                f"`smsrelay retry --codes {self.code} --yes` re-sends it once")

    def __post_init__(self) -> None:
        if self.cause not in CAUSES:
            raise ValueError(f"unknown cause {self.cause!r} for {self.code}")
        if self.retryable != (self.max_retries > 0):
            raise ValueError(f"{self.code}: retryable must match a positive max_retries")
        if self.final_status not in (None, "failed", "undelivered"):
            raise ValueError(f"{self.code}: bad final_status {self.final_status!r}")


def _entry(code, where, cause, retries, message, meaning, action, source) -> TwilioError:
    api = isinstance(where, int)
    return TwilioError(code, message, meaning, action, retries > 0, retries, cause,
                       where if api else None, None if api else where, source)


def _rows():
    for family in (account_api, request, delivery, channel, media):
        for row in family.ROWS:
            source = family.SOURCES.get(row[0])
            if not source:  # pragma: no cover - guards against an unsourced entry
                raise RuntimeError(f"no source for Twilio error {row[0]} in {family.__name__}")
            yield _entry(*row, source)


_ENTRIES = tuple(_rows())

CATALOGUE: Mapping[int, TwilioError] = MappingProxyType({e.code: e for e in _ENTRIES})

if len(CATALOGUE) != len(_ENTRIES):  # pragma: no cover - guards against copy-paste
    raise RuntimeError("duplicate code in the Twilio error catalogue")


def _as_code(code: int | str | None) -> int | None:
    if code is None or isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    text = str(code).strip()
    # Twilio sends ErrorCode as a form string; our metadata stores it as text.
    return int(text) if text.isdigit() else None


def lookup(code: int | str | None) -> TwilioError | None:
    parsed = _as_code(code)
    return None if parsed is None else CATALOGUE.get(parsed)


def is_retryable(code: int | str | None) -> bool:
    entry = lookup(code)
    return entry is not None and entry.retryable


def retry_budget(code: int | str | None) -> int:
    entry = lookup(code)
    return 0 if entry is None else entry.max_retries


def describe_unknown(code: int | str | None) -> TwilioError:
    """The catalogue entry if there is one, else a generic never-retry entry.

    Unknown codes are not retried: a blind retry of a permanent failure costs
    money and can look like spam to carriers.
    """
    entry = lookup(code)
    if entry is not None:
        return entry
    parsed = _as_code(code)
    shown = code if parsed is None else parsed
    return TwilioError(
        code=parsed if parsed is not None else 0,
        message=f"Unrecognised Twilio error code {shown!r}" if parsed is None else f"Twilio error {parsed}",
        meaning="Unrecognised error code",
        action="Look the code up at https://www.twilio.com/docs/api/errors and add it to the catalogue.",
        retryable=False,
        max_retries=0,
        cause="none",
        http_status=None,
        final_status=None,
        source=f"not in our catalogue: see https://www.twilio.com/docs/api/errors/{parsed}" if parsed else "",
    )
