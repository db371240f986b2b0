"""What a diagnosis is told and what it answers: the aggregated facts the service layer gathers
(traffic, failures, holds, the pipeline's state, live Twilio checks) and the ranked causes.
Plain data, so the rules in diagnosis.py stay a pure function of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Traffic:
    """Outbound messages created in the window, for one org and sender."""

    org_id: str
    sender: str | None
    total: int
    failed: int = 0  # failed + undelivered
    delivered: int = 0
    # The newest message of this org and sender that was delivered (or is on its way: sent):
    # after a cause's last failure, it says the cause no longer stops traffic.
    last_ok_at: datetime | None = None


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
    first_at: datetime | None = None  # creation times of the group's oldest and newest message
    last_at: datetime | None = None
    recent: int = 0  # of count, created in the window's last RECENT_SECONDS (the trend)
    recovered: int = 0  # of count, retried later and the retry delivered: no longer failing
    template: str | None = None  # "metadata"->>'templateId', when the message used one
    channel: str | None = None


@dataclass(frozen=True)
class Baseline:
    """The same hours on earlier days, from the rollup: how much outbound traffic an org had
    and how much of it failed with `code` ('' for the org's whole traffic)."""

    code: str
    org_id: str
    count: int
    days: int = 1  # how many earlier days the figure sums


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
    baseline: tuple[Baseline, ...] = ()
    pumping: tuple[Any, ...] = ()  # domain/pumping.py's signals over the window (service/spend/pumping.py)


@dataclass(frozen=True)
class Cause:
    cause: str
    confidence: float
    summary: str
    evidence: tuple[str, ...] = ()
    orgs: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    # Where it stands in time (diagnosis_time.py): "live" while it fails or cannot be shown to
    # have stopped, "resolved" once traffic it stopped went through again after its last failure.
    state: str = "live"
    onset: datetime | None = None
    last_seen: datetime | None = None
    resolved_at: datetime | None = None
    trend: str | None = None  # rising | steady | falling | stopped
    share: float | None = None  # of the window's outbound traffic (of its scope's, for a code)
    codes: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    # The fix a person (or the autopilot) makes first, and the commands that are safe only
    # once it is made (retries of what failed): never printed as steps to run now.
    fix: str | None = None
    after_fix: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "confidence": round(self.confidence, 2), "summary": self.summary,
                "evidence": list(self.evidence), "orgs": list(self.orgs), "numbers": list(self.numbers),
                "actions": list(self.actions), "state": self.state, "onset": _iso(self.onset),
                "lastSeen": _iso(self.last_seen), "resolvedAt": _iso(self.resolved_at), "trend": self.trend,
                "share": None if self.share is None else round(self.share, 4), "codes": list(self.codes),
                "countries": list(self.countries), "templates": list(self.templates),
                "channels": list(self.channels), "fix": self.fix, "afterFix": list(self.after_fix)}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None
