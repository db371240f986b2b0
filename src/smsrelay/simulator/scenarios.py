"""Fault scenarios: what each one reproduces, and which traffic it targets.

A scenario has a *stage* that says where Twilio reports the fault:

- ``auth``     every REST request answers 401 / 20003;
- ``account``  the account is suspended: creates answer 403 / 20403, messages still queued
               fail with 30002 when they reach the front of the queue;
- ``api``      the REST API itself misbehaves (5xx, hangs, 429 / 20429);
- ``rate``     creates answer 429 only while their sender is over a rate: ``limit`` messages
               accepted per ``per_seconds`` (60 by default), so a sender that slows down gets
               through again (what throttling an org must achieve);
- ``create``   Messages create answers an HTTP error with a 21xxx code;
- ``created``  Messages create *does* create the message (it is sent and reported as usual),
               but the answer is lost: a 5xx from the edge, or a hang of
               ``outage_hang_seconds`` before a 504. The caller cannot tell it from a refusal
               or an outage, which is the point: it must not resend;
- ``delivery`` the message is accepted (201 queued) and later fails in a status callback.

Filters narrow a scenario to part of the traffic: ``number`` (From or To), ``match`` (a regex
searched in the body), ``country`` (the destination's ISO country) and ``rate`` (a seeded
fraction of what the other filters let through).
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

Stage = Literal["none", "auth", "account", "api", "rate", "create", "created", "delivery"]

# Bodies that carrier filters love to block: public URL shorteners.
URL_SHORTENERS = (
    r"(?i)\b(bit\.ly|tinyurl\.com|goo\.gl|t\.co|ow\.ly|is\.gd|buff\.ly|rebrand\.ly|cutt\.ly"
    r"|shorturl\.at|tiny\.cc|rb\.gy)/"
)


@dataclass(frozen=True)
class ScenarioKind:
    name: str
    stage: Stage
    code: int | None
    http_status: int | None = None  # for create/api/auth/account stages
    # Twilio's final status for delivery-stage codes (the domain catalogue wins when present).
    final_status: str | None = None
    sender_kinds: tuple[str, ...] = ()  # empty: any sender
    default_match: str | None = None
    alt_codes: tuple[int, ...] = ()  # other codes the scenario may be asked to use
    channels: tuple[str, ...] = ()  # empty: any channel
    summary: str = ""


CATALOGUE: dict[str, ScenarioKind] = {
    k.name: k
    for k in (
        ScenarioKind("healthy", "none", None, summary="clears every active scenario"),
        ScenarioKind("account_suspended", "account", 20403, 403, "failed",
                     summary="account suspended: create 403/20403, queued messages fail 30002"),
        ScenarioKind("auth_failure", "auth", 20003, 401, summary="401 / 20003 on every request"),
        ScenarioKind("balance_exhausted", "account", 20403, 403, "failed",
                     summary="balance <= 0, then the suspension behaviour"),
        ScenarioKind("sender_number_issue", "create", 21606, 400, alt_codes=(21612,),
                     summary="From number not SMS-capable / not in-use: 21606 (or 21612)"),
        ScenarioKind("unregistered_10dlc", "delivery", 30034, final_status="undelivered",
                     sender_kinds=("long_code",), summary="long codes not 10DLC registered: 30034"),
        ScenarioKind("toll_free_unverified", "delivery", 30032, final_status="undelivered",
                     sender_kinds=("toll_free",), summary="toll-free number unverified: 30032"),
        ScenarioKind("content_filtering", "delivery", 30007, final_status="undelivered",
                     default_match=URL_SHORTENERS, summary="carrier filtering of bodies: 30007"),
        ScenarioKind("carrier_blocking", "delivery", 30004, final_status="undelivered",
                     summary="message blocked: 30004"),
        ScenarioKind("unreachable", "delivery", 30003, final_status="undelivered",
                     summary="unreachable destination handset: 30003"),
        ScenarioKind("unknown_destination", "delivery", 30005, final_status="undelivered",
                     summary="unknown destination handset: 30005"),
        ScenarioKind("landline", "delivery", 30006, final_status="undelivered",
                     summary="landline or unreachable carrier: 30006"),
        ScenarioKind("invalid_to", "create", 21211, 400, summary="invalid 'To' number: 21211"),
        ScenarioKind("geo_blocked", "create", 21408, 400,
                     summary="region permission not enabled: 21408"),
        ScenarioKind("unknown_error", "delivery", 30008, final_status="undelivered",
                     summary="unknown error: 30008"),
        # A failure mode Twilio documents after our catalogue was written (39999 is no code of
        # its dictionary): what "nothing unknown goes unnoticed" is tested with.
        ScenarioKind("uncatalogued", "delivery", 39999, final_status="undelivered",
                     summary="a delivery failure with a code our error catalogue does not know: 39999"),
        ScenarioKind("outage", "api", 20503, 503, summary="REST API 5xx and hanging requests"),
        ScenarioKind("rate_limited", "api", 20429, 429, summary="429 / 20429 on create"),
        ScenarioKind("rate_exceeded", "rate", 20429, 429, alt_codes=(14107,),
                     summary="429 / 20429 (or 14107) on create while a sender is over `limit` messages "
                             "per `per_seconds`: slowing down stops it"),
        ScenarioKind("queue_overflow", "delivery", 30001, final_status="failed",
                     summary="queue overflow: 30001"),
        ScenarioKind("opted_out", "create", 21610, 400,
                     summary="21610 to recipients who texted STOP to the sender"),
        # MMS: what Twilio's fetch of the media finds; WhatsApp: what Meta and the channel answer.
        ScenarioKind("media_content_type", "delivery", 12300, final_status="failed", channels=("mms", "whatsapp"),
                     summary="media served with a Content-Type Twilio does not accept: 12300"),
        ScenarioKind("media_unreachable", "delivery", 11200, final_status="failed", channels=("mms", "whatsapp"),
                     summary="Twilio could not fetch the media (HTTP retrieval failure): 11200"),
        ScenarioKind("media_too_large", "delivery", 30019, final_status="undelivered", channels=("mms",),
                     alt_codes=(63034,), summary="media larger than the carrier (30019) or Twilio (63034) takes"),
        ScenarioKind("whatsapp_unreachable", "delivery", 63003, final_status="failed", channels=("whatsapp",),
                     summary="the To address is not on WhatsApp: 63003"),
        ScenarioKind("whatsapp_rate_limited", "delivery", 63018, final_status="failed", channels=("whatsapp",),
                     summary="rate limit exceeded for the WhatsApp sender: 63018"),
        ScenarioKind("whatsapp_recipient_invalid", "delivery", 63024, final_status="failed", channels=("whatsapp",),
                     summary="invalid message recipient (not eligible for this sender): 63024"),
        ScenarioKind("whatsapp_marketing_declined", "delivery", 63049, final_status="undelivered",
                     channels=("whatsapp",), summary="Meta chose not to deliver a marketing template: 63049"),
        ScenarioKind("created_then_5xx", "created", 20500, 502,
                     summary="creates the message, then answers 502: the caller cannot know"),
        ScenarioKind("created_then_timeout", "created", 20504, 504,
                     summary="creates the message, then hangs outage_hang_seconds before a 504"),
    )
}


@dataclass(frozen=True)
class Traffic:
    """What a scenario looks at in one outbound message."""

    from_: str
    to: str
    body: str
    to_country: str | None
    sender_kind: str
    channel: str = "sms"


@dataclass
class Scenario:
    id: int
    name: str
    number: str | None = None
    match: str | None = None
    country: str | None = None
    rate: float = 1.0
    expires_at: float | None = None
    code: int | None = None
    limit: int | None = None  # rate stage: messages accepted per sender per `per_seconds`
    per_seconds: float = 60.0
    refused: int = 0
    last_refused_at: float | None = None
    _regex: re.Pattern | None = field(default=None, repr=False)
    _accepted: dict[str, deque] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> ScenarioKind:
        return CATALOGUE[self.name]

    @property
    def error_code(self) -> int | None:
        return self.code or self.kind.code

    @property
    def filtered(self) -> bool:
        """Narrowed by number, country or a custom pattern (a rate alone does not count)."""
        return bool(self.number or self.country or (self.match and self.match != self.kind.default_match))

    @property
    def untargeted(self) -> bool:
        """No filter narrows it (a kind's default pattern does not count)."""
        return not (self.number or self.country or self.rate < 1
                    or (self.match and self.match != self.kind.default_match))

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def matches(self, t: Traffic, rng: random.Random) -> bool:
        kind = self.kind
        if kind.sender_kinds and t.sender_kind not in kind.sender_kinds:
            return False
        if kind.channels and t.channel not in kind.channels:
            return False
        if self.number and self.number not in (t.from_, t.to):
            return False
        if self.country and (t.to_country or "").upper() != self.country.upper():
            return False
        if self._regex is not None and not self._regex.search(t.body or ""):
            return False
        # Drawn last, and only for otherwise-matching traffic, so runs are reproducible.
        return self.rate >= 1 or rng.random() < self.rate

    def over_rate(self, sender: str, now: float) -> bool:
        """The sender has had `limit` messages accepted within the last `per_seconds`."""
        times = self._accepted.get(sender)
        if not times:
            return False
        while times and times[0] <= now - self.per_seconds:
            times.popleft()
        return len(times) >= (self.limit or 0)

    def refuse(self, now: float) -> None:
        self.refused += 1
        self.last_refused_at = now

    def accepted(self, sender: str, now: float) -> None:
        self._accepted.setdefault(sender, deque()).append(now)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "number": self.number,
            "match": self.match,
            "country": self.country,
            "rate": self.rate,
            "code": self.error_code,
            "stage": self.kind.stage,
            "expires_at": self.expires_at,
            "summary": self.kind.summary,
            **({"limit": self.limit, "per_seconds": self.per_seconds, "refused": self.refused,
                "last_refused_at": self.last_refused_at} if self.kind.stage == "rate" else {}),
        }


class ScenarioError(ValueError):
    pass


class ScenarioBook:
    """The active scenarios (several at once), with expiry."""

    def __init__(self) -> None:
        self._items: list[Scenario] = []
        self._next_id = 1

    def add(self, name: str, *, number: str | None = None, match: str | None = None,
            country: str | None = None, rate: float | None = None,
            for_seconds: float | None = None, code: int | None = None, limit: int | None = None,
            per_seconds: float | None = None) -> Scenario | None:
        kind = CATALOGUE.get(name)
        if kind is None:
            raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(CATALOGUE)}")
        if name == "healthy":
            self.clear()
            return None
        rate = 1.0 if rate is None else float(rate)
        if not 0 <= rate <= 1:
            raise ScenarioError("rate must be between 0 and 1")
        if code is not None and code not in (kind.code, *kind.alt_codes):
            raise ScenarioError(f"{name} can use codes {[kind.code, *kind.alt_codes]}, not {code}")
        if kind.stage == "rate" and (limit is None or limit < 1):
            raise ScenarioError(f"{name} needs a limit: messages per sender per per_seconds (1 or more)")
        if kind.stage != "rate" and (limit is not None or per_seconds is not None):
            raise ScenarioError(f"limit and per_seconds apply to rate scenarios only, not {name}")
        if per_seconds is not None and per_seconds <= 0:
            raise ScenarioError("per_seconds must be positive")
        pattern = match or kind.default_match
        try:
            regex = re.compile(pattern) if pattern else None
        except re.error as exc:
            raise ScenarioError(f"bad match regex: {exc}") from exc
        scenario = Scenario(
            id=self._next_id, name=name, number=number or None, match=pattern,
            country=country.upper() if country else None, rate=rate,
            expires_at=time.time() + for_seconds if for_seconds else None,
            code=code, limit=limit, per_seconds=60.0 if per_seconds is None else float(per_seconds), _regex=regex,
        )
        self._next_id += 1
        self._items.append(scenario)
        return scenario

    def clear(self) -> None:
        self._items.clear()

    def remove(self, scenario_id: int) -> bool:
        """Clear one scenario, leaving the others (and their state) as they are."""
        kept = [s for s in self._items if s.id != scenario_id]
        found = len(kept) != len(self._items)
        self._items = kept
        return found

    def active(self) -> list[Scenario]:
        if not self._items:
            return []  # the common case, asked several times for every message
        now = time.time()
        self._items = [s for s in self._items if not s.expired(now)]
        return list(self._items)

    def by_stage(self, stage: Stage) -> list[Scenario]:
        return [s for s in self.active() if s.kind.stage == stage]

    def named(self, name: str) -> list[Scenario]:
        return [s for s in self.active() if s.name == name]

    def first_match(self, stage: Stage, t: Traffic, rng: random.Random) -> Scenario | None:
        for s in self.by_stage(stage):
            if s.matches(t, rng):
                return s
        return None

    def account_wide(self, name: str) -> bool:
        """An untargeted scenario of this name is active (it changes account-level views)."""
        return any(s.untargeted for s in self.named(name))
