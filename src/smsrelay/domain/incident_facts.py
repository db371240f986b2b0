"""What a diagnosis is told and what it answers: the aggregated facts the service layer gathers
(traffic, failures, holds, the pipeline's state, live Twilio checks) and the ranked causes.
Plain data, so the rules in diagnosis.py stay a pure function of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Traffic:
    """Outbound messages created in the window, for one org and sender."""

    org_id: str
    sender: str | None
    total: int
    failed: int = 0  # failed + undelivered
    delivered: int = 0


@dataclass(frozen=True)
class Failure:
    """Messages that failed with one code, grouped by org, sender and destination country.

    ``transient`` marks messages still being retried (their last attempt's error)."""

    code: str | None
    org_id: str
    sender: str | None
    count: int
    country: str | None = None
    transient: bool = False
    http_status: int | None = None


@dataclass(frozen=True)
class Held:
    reason: str
    org_id: str
    count: int


@dataclass(frozen=True)
class Pipeline:
    queued_unsent: int = 0
    oldest_queued_age_s: float | None = None
    stuck_unsent: int = 0  # queued, never tried, no hold, older than STUCK_AFTER_SECONDS
    jobs_todo: int = 0
    workers_alive: int = 1
    workers_registered: int = 1
    last_heartbeat_age_s: float | None = None
    # Counted since the oldest outbound message still waiting for its first attempt.
    inbound_recent: int = 0
    outbound_recent: int = 0
    outbound_handed_recent: int = 0
    recent_minutes: int = 10
    paused: dict[str, Any] | None = None
    feature_enabled: bool = True
    disabled_orgs: tuple[str, ...] = ()
    throttled_orgs: tuple[tuple[str, int], ...] = ()
    held: tuple[Held, ...] = ()


@dataclass(frozen=True)
class NumberCheck:
    number: str
    found: bool
    status: str | None = None
    sms_capable: bool | None = None


@dataclass(frozen=True)
class TwilioChecks:
    """Live answers from Twilio. ``error_*`` is set when a check call itself failed."""

    balance: float | None = None
    currency: str | None = None
    account_status: str | None = None
    error_code: int | None = None
    error_http_status: int | None = None
    error_message: str | None = None
    timed_out: bool = False
    numbers: tuple[NumberCheck, ...] = ()


@dataclass(frozen=True)
class Facts:
    since: datetime
    until: datetime
    since_label: str = "1h"
    traffic: tuple[Traffic, ...] = ()
    failures: tuple[Failure, ...] = ()
    pipeline: Pipeline = field(default_factory=Pipeline)
    twilio: TwilioChecks | None = None


@dataclass(frozen=True)
class Cause:
    cause: str
    confidence: float
    summary: str
    evidence: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "confidence": round(self.confidence, 2), "summary": self.summary,
                "evidence": list(self.evidence), "orgs": list(self.orgs), "numbers": list(self.numbers),
                "actions": list(self.actions)}
