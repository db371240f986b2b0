"""The incident autopilot's rules: when to act on a diagnosed cause, at which scope, and when
what it did has worked, failed or may be undone.

Pure: the service layer (service/operations/autopilot*.py) passes in the live causes, the
per-cause switches and what the autopilot already did; nothing here reads a clock or a database.

How it thinks:
* It acts only on a cause an operator switched on, diagnosed at `min_confidence` or more, seen
  for `confirm_seconds` since its onset and still failing within the last `live_seconds`: a
  cause that already cleared is never acted on.
* The scope is the narrowest that contains `contain_share` of the cause's failures, along the
  cause's ladder (e.g. a sender number before its org); only an account-level cause pauses all
  SMS, and a rate-limited org is throttled rather than held.
* A mitigation that did not stop the failures is replaced by the next scope up the ladder once;
  a second widening in a row waits for a person (who re-enables the cause).
* Bounded: at most `max_actions_per_hour` mitigations, and never one a person has undone since
  the cause's onset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# The causes the autopilot can mitigate, and the scopes it tries for each, narrowest first.
LADDERS: Mapping[str, tuple[str, ...]] = {
    "account": ("all",),
    "sender_number": ("sender", "org"),
    "content_filtering": ("template", "sender", "org"),
    "geo_permissions": ("country", "org"),
    "rate_limiting": ("org",),
    # 30008 and other carrier-side failures: held where they concentrate, never everywhere (a
    # Twilio-wide outage is retried by dispatch's backoff and needs a person's eyes).
    "provider_outage": ("sender", "country", "org"),
    # One org's sends to the countries its pumping burst goes to (service/operations/
    # autopilot_pumping.py): its other traffic flows on; a person lifts it (undo).
    "sms_pumping": ("org_country",),
}
CAUSES = tuple(LADDERS)

# What the autopilot cannot do itself, said in its announcement and in the runbook.
NEEDS_A_PERSON: Mapping[str, str] = {
    "account": "top up the balance or reactivate the account in Twilio's console",
    "sender_number": "fix the number in Twilio (A2P 10DLC registration, toll-free verification, capabilities)",
    "content_filtering": "change the message content (no URL shorteners, registered use case)",
    "geo_permissions": "enable the country in Twilio's Messaging Geo Permissions",
    "rate_limiting": "raise the account's or sender's throughput, or keep the org throttled",
    "provider_outage": "follow status.twilio.com and the carrier's own status",
    "sms_pumping": "find what triggers the org's sends (a sign-up or OTP form, a leaked key) and stop it; "
                   "undo the hold once its sends there are its own",
}

# Who the autopilot is in "AuditLog", notifications and `endedBy`.
ACTOR = "autopilot"


@dataclass(frozen=True)
class Rules:
    min_confidence: float = 0.8
    confirm_seconds: float = 60.0
    live_seconds: float = 120.0
    max_actions_per_hour: int = 6
    contain_share: float = 0.9
    throttle_per_minute: int = 30
    verify_seconds: float = 120.0
    # New failures of the cause after a mitigation, beyond which it "did not help".
    verify_tolerance: int = 2


@dataclass(frozen=True)
class Switch:
    """One cause's autopilot switch: off by default."""

    enabled: bool = False
    dry_run: bool = False
    since: datetime | None = None  # when a person last switched it (resets widening and undo)


@dataclass(frozen=True)
class Signal:
    """What the diagnosis says of one cause, with where its failures are and when."""

    cause: str
    confidence: float
    summary: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    codes: tuple[str, ...] = ()
    by_org: Mapping[str, int] = field(default_factory=dict)
    by_sender: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # sender -> (org, count)
    by_country: Mapping[str, int] = field(default_factory=dict)
    by_template: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # template -> (org, count)

    def live(self, now: datetime, rules: Rules) -> bool:
        return self.last_seen is not None and (now - self.last_seen).total_seconds() <= rules.live_seconds


@dataclass(frozen=True)
class Scope:
    kind: str  # all | org | sender | country | template | org_country ("<orgId>:<country>")
    value: str | None = None
    org_id: str | None = None

    def describe(self) -> str:
        if self.kind == "org_country":
            org, _, country = (self.value or "").partition(":")
            return f"org {org} messages to country {country}"
        return {"all": "all SMS", "org": f"org {self.value}", "sender": f"sender number {self.value}",
                "country": f"messages to country {self.value}", "template": f"template {self.value}"}[self.kind]


@dataclass(frozen=True)
class Past:
    """One earlier action on the same cause (since its onset and the switch's last change)."""

    scope_kind: str
    widened: bool
    state: str  # active | holding | probing | released | closed | widened | reverted | undone | dry_run
    ended_by: str | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Plan:
    cause: str
    kind: str  # pause | disable_org | throttle | hold
    scope: Scope
    widened: bool
    reason: str
    per_minute: int | None = None

    def describe(self) -> str:
        if self.kind == "pause":
            return "pause all SMS"
        if self.kind == "throttle":
            return f"throttle {self.scope.describe()} to {self.per_minute} per minute"
        return f"hold {self.scope.describe()}"


@dataclass(frozen=True)
class Skip:
    cause: str
    why: str
    announce: bool = False  # worth telling a person (not merely "nothing to do")


def kind_of(scope: Scope, cause: str) -> str:
    if scope.kind == "all":
        return "pause"
    if cause == "rate_limiting":
        return "throttle"
    if scope.kind == "org":
        return "disable_org"
    return "hold"


def _contained(counts: Mapping[str, int], total: int, share: float) -> str | None:
    if not counts or not total:
        return None
    value, n = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return value if n / total >= share else None


def narrowest(signal: Signal, rules: Rules, start: int = 0) -> tuple[Scope, int] | None:
    """The narrowest scope on the cause's ladder, from rung `start`, that contains the failures."""
    ladder = LADDERS[signal.cause]
    for i in range(start, len(ladder)):
        kind = ladder[i]
        if kind == "all":
            return Scope("all"), i
        if kind == "org":
            org = _contained(signal.by_org, signal.count, rules.contain_share)
            if org:
                return Scope("org", org, org), i
        elif kind in ("sender", "template"):
            per = signal.by_sender if kind == "sender" else signal.by_template
            value = _contained({k: n for k, (_, n) in per.items()}, signal.count, rules.contain_share)
            if value:
                return Scope(kind, value, per[value][0]), i
        elif kind == "country":
            country = _contained(signal.by_country, signal.count, rules.contain_share)
            if country:
                org = _contained(signal.by_org, signal.count, 1.0)
                return Scope("country", country, org), i
    return None


def decide(signal: Signal, switch: Switch, rules: Rules, now: datetime, *, open_action: bool,
           past: tuple[Past, ...], actions_last_hour: int) -> Plan | Skip:
    """Whether to mitigate this cause now, and how."""
    cause = signal.cause
    if cause not in LADDERS:
        return Skip(cause, "the autopilot has no mitigation for this cause")
    if not switch.enabled:
        return Skip(cause, "autopilot is off for this cause")
    if open_action:
        return Skip(cause, "already mitigated")
    if not signal.live(now, rules):
        return Skip(cause, "already cleared: no failure within the last "
                           f"{rules.live_seconds:.0f} s")
    if signal.confidence < rules.min_confidence:
        return Skip(cause, f"confidence {signal.confidence:.2f} below {rules.min_confidence:.2f}")
    if signal.first_seen is None or (now - signal.first_seen).total_seconds() < rules.confirm_seconds:
        return Skip(cause, f"not yet seen for {rules.confirm_seconds:.0f} s")
    if any(p.state in ("released", "closed") and p.ended_at is not None and signal.last_seen is not None
           and p.ended_at >= signal.last_seen for p in past):
        return Skip(cause, "already cleared: its probe was delivered after the last failure")
    if any(p.state == "undone" for p in past):
        return Skip(cause, "a person undid the autopilot's mitigation of this incident", announce=False)
    failed = [p for p in past if p.state in ("widened", "reverted")]
    start, widened = 0, False
    if failed:
        if failed[-1].widened or failed[-1].state == "reverted":
            return Skip(cause, "a mitigation did not help and the autopilot already widened once: "
                               "waiting for a person", announce=True)
        start = LADDERS[cause].index(failed[-1].scope_kind) + 1
        widened = True
    if not switch.dry_run and actions_last_hour >= rules.max_actions_per_hour:
        return Skip(cause, f"cap reached: {actions_last_hour} action(s) in the last hour", announce=True)
    found = narrowest(signal, rules, start)
    if found is None:
        return Skip(cause, "no scope the autopilot may use contains these failures: needs a person", announce=True)
    scope, _ = found
    kind = kind_of(scope, cause)
    reason = (f"{cause} at {signal.confidence:.2f} for {(now - signal.first_seen).total_seconds():.0f} s: "
              f"{signal.summary}")
    return Plan(cause, kind, scope, widened, reason[:480],
                per_minute=rules.throttle_per_minute if kind == "throttle" else None)


def helped(new_failures: int, rules: Rules) -> bool:
    """A mitigation worked when the failures of its cause stopped growing after it."""
    return new_failures <= rules.verify_tolerance


def can_widen(cause: str, scope_kind: str, widened: bool) -> bool:
    """One widening in a row, and only where the ladder has a wider rung."""
    ladder = LADDERS.get(cause, ())
    return not widened and scope_kind in ladder and ladder.index(scope_kind) + 1 < len(ladder)
