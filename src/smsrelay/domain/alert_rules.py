"""Alert rules: which conditions page a human, decided from aggregated facts.

Pure: the service layer gathers counts from PostgreSQL (and the database's `now`), this module
decides. Each finding has a stable key (rule, plus the org for per-org rules), which is what
makes an alert "the same alert" from one evaluation to the next, and across schedulers.
The same rules are written in PromQL in deploy/prometheus/alerts.yml; keep them in step.

Channels: the runbook's "Twilio Message Failed" and "SMS delivery rate low" count SMS only (as
twilio.sms.outbound does); MMS and WhatsApp fail for their own reasons (media, the 24-hour
window, templates) and have their own rules, keyed per channel (and org), with the same
thresholds: "Channel Messages Failed" and "Channel delivery rate low".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsrelay.domain import rates

FAILED = "twilio_message_failed"
FLAT = "sms_outbound_flat"
DELIVERY_RATE = "sms_delivery_rate_low"
BACKLOG = "sms_queue_backlog"
BALANCE = "twilio_balance_low"
MITIGATION = "sms_mitigation_active"
WEBHOOK_FAILING = "org_webhook_failing"
CHANNEL_FAILED = "channel_messages_failed"
CHANNEL_DELIVERY_RATE = "channel_delivery_rate_low"
PUMPING = "sms_pumping_suspected"

# The runbook's wording is the contract: operators search for these titles.
TITLES = {
    FAILED: "Twilio Message Failed",
    FLAT: "SMS outbound flat while inbound continues",
    DELIVERY_RATE: "SMS delivery rate low",
    BACKLOG: "SMS queue backlog",
    BALANCE: "Twilio balance low",
    MITIGATION: "SMS mitigation still active",
    WEBHOOK_FAILING: "Org webhook endpoint failing",
    CHANNEL_FAILED: "Channel Messages Failed",
    CHANNEL_DELIVERY_RATE: "Channel delivery rate low",
    PUMPING: "SMS pumping suspected",
}
CHANNEL_NAMES = {"mms": "MMS", "whatsapp": "WhatsApp"}
RULES = tuple(TITLES)

FAILURE_STATUSES = ("failed", "undelivered")
FINAL_STATUSES = ("delivered", "read", "failed", "undelivered")


@dataclass(frozen=True)
class Thresholds:
    failed_min_count: int = 10
    failed_min_share: float = 0.2
    failed_window_seconds: int = 300
    flat_window_seconds: int = 900
    flat_min_inbound: int = 3
    delivery_rate_min: float = 0.9
    delivery_rate_min_final: int = 20
    delivery_rate_window_seconds: int = 900
    backlog_seconds: float = 300
    balance_min: float = 20.0
    balance_runway_hours: float = 24.0
    mitigation_seconds: float = 3600
    webhook_failing_seconds: float = 900
    pumping_window_seconds: int = 900


@dataclass(frozen=True)
class Facts:
    """What the rules look at. Outbound counts are {orgId: {status: count}} over messages
    created within each rule's window: SMS in failed_window and delivery_window, every other
    channel in channel_failed_window and channel_delivery_window ({channel: {orgId: …}})."""

    failed_window: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    delivery_window: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    channel_failed_window: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    channel_delivery_window: Mapping[str, Mapping[str, Mapping[str, int]]] = field(default_factory=dict)
    inbound_in_window: int = 0
    inbound_recent: int = 0
    sent_in_window: int = 0
    oldest_queued_age_seconds: float | None = None
    queued_count: int = 0
    balance: float | None = None
    currency: str = "USD"
    spend_per_hour: float | None = None
    disabled_orgs: Mapping[str, datetime] = field(default_factory=dict)  # orgId -> since
    paused_since: datetime | None = None
    # orgId -> (seconds its longest-failing endpoint has been failing, events waiting for it)
    failing_webhooks: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    # domain/pumping.py's signals over the last pumping_window_seconds against the same window on earlier days
    pumping: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule: str
    key: str
    severity: str  # PagerDuty's vocabulary: critical, error, warning, info
    summary: str
    org_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return TITLES[self.rule]


def alert_key(rule: str, org_id: str | None = None, channel: str | None = None) -> str:
    scope = ":".join(p for p in (channel, org_id) if p)
    return f"{rule}:{scope}" if scope else rule


def _sum(counts: Mapping[str, int], statuses: Sequence[str]) -> int:
    return sum(counts.get(s, 0) for s in statuses)


def _merge(per_org: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_org.values():
        for status, n in counts.items():
            total[status] = total.get(status, 0) + n
    return total


def spend_per_hour(samples: Sequence[tuple[datetime, float]], min_span_seconds: float = 600) -> float | None:
    """Spend rate from balance samples (oldest first) since the last top-up; None when the
    samples span too little time to say."""
    if len(samples) < 2:
        return None
    start = 0
    for i in range(1, len(samples)):
        if samples[i][1] > samples[i - 1][1]:  # a top-up: earlier spend says nothing now
            start = i
    (t0, b0), (t1, b1) = samples[start], samples[-1]
    span = (t1 - t0).total_seconds()
    if span < min_span_seconds:
        return None
    return max(0.0, (b0 - b1) / (span / 3600))


def runway_hours(balance: float | None, spend: float | None) -> float | None:
    if balance is None or not spend:
        return None
    return max(0.0, balance) / spend


def _failed(rule: str, per_org: Mapping[str, Mapping[str, int]], t: Thresholds,
            channel: str | None = None) -> list[Finding]:
    scopes: list[tuple[str | None, Mapping[str, int]]] = [(None, _merge(per_org))]
    scopes += sorted(per_org.items())
    what = f"{CHANNEL_NAMES.get(channel, channel)} messages" if channel else "SMS"
    found = []
    for org_id, counts in scopes:
        failures = _sum(counts, FAILURE_STATUSES)
        outbound = sum(counts.values())
        share = failures / outbound if outbound else 0.0
        if failures >= t.failed_min_count and share >= t.failed_min_share:
            where = f"org {org_id}" if org_id else "all orgs"
            details = {"failed": counts.get("failed", 0), "undelivered": counts.get("undelivered", 0),
                       "outbound": outbound, "share": round(share, 4), "windowSeconds": t.failed_window_seconds}
            found.append(Finding(
                rule, alert_key(rule, org_id, channel), "critical", org_id=org_id,
                summary=f"{failures} of {outbound} outbound {what} failed or undelivered ({share:.0%}) "
                        f"in the last {t.failed_window_seconds // 60} min ({where})",
                details={**details, "channel": channel} if channel else details))
    return found


def failed_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    """The runbook's "Twilio Message Failed" over SMS, then the same rule per other channel."""
    found = _failed(FAILED, facts.failed_window, t)
    for channel, per_org in sorted(facts.channel_failed_window.items()):
        found += _failed(CHANNEL_FAILED, per_org, t, channel)
    return found


def flat_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    # "Keeps arriving": enough inbound over the window and some of it recently.
    if facts.sent_in_window == 0 and facts.inbound_in_window >= t.flat_min_inbound and facts.inbound_recent > 0:
        minutes = t.flat_window_seconds // 60
        return [Finding(FLAT, alert_key(FLAT), "critical",
                        summary=f"No outbound SMS sent in {minutes} min while {facts.inbound_in_window} "
                                f"inbound arrived: twilio.sms.outbound is flat",
                        details={"inbound": facts.inbound_in_window, "sent": 0, "windowSeconds": t.flat_window_seconds,
                                 "queued": facts.queued_count})]
    return []


def _delivery_rate(rule: str, per_org: Mapping[str, Mapping[str, int]], t: Thresholds,
                   channel: str | None = None) -> list[Finding]:
    what = f"{CHANNEL_NAMES.get(channel, channel)} messages" if channel else "SMS"
    found = []
    for org_id, counts in sorted(per_org.items()):
        final = _sum(counts, FINAL_STATUSES)
        delivered = _sum(counts, rates.DELIVERED)
        rate = rates.delivery_rate(delivered, final)
        if final >= t.delivery_rate_min_final and rate is not None and rate < t.delivery_rate_min:
            details = {"delivered": delivered, "final": final, "rate": round(rate, 4),
                       "windowSeconds": t.delivery_rate_window_seconds}
            found.append(Finding(
                rule, alert_key(rule, org_id, channel), "error", org_id=org_id,
                summary=f"Org {org_id}: {rate:.0%} of {final} final outbound {what} delivered in the last "
                        f"{t.delivery_rate_window_seconds // 60} min (threshold {t.delivery_rate_min:.0%})",
                details={**details, "channel": channel} if channel else details))
    return found


def delivery_rate_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    found = _delivery_rate(DELIVERY_RATE, facts.delivery_window, t)
    for channel, per_org in sorted(facts.channel_delivery_window.items()):
        found += _delivery_rate(CHANNEL_DELIVERY_RATE, per_org, t, channel)
    return found


def backlog_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    age = facts.oldest_queued_age_seconds
    if age is not None and age > t.backlog_seconds:
        return [Finding(BACKLOG, alert_key(BACKLOG), "error",
                        summary=f"Oldest queued SMS is {age:.0f} s old ({facts.queued_count} queued, "
                                f"held messages excluded)",
                        details={"oldestAgeSeconds": round(age, 1), "queued": facts.queued_count,
                                 "thresholdSeconds": t.backlog_seconds})]
    return []


def balance_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    if facts.balance is None:
        return []
    runway = runway_hours(facts.balance, facts.spend_per_hour)
    low = facts.balance < t.balance_min
    short = runway is not None and runway < t.balance_runway_hours
    if not (low or short):
        return []
    why = (f"under {t.balance_min:.2f}" if low else "") + (" and " if low and short else "") + \
          (f"{runway:.1f} h of runway at {facts.spend_per_hour:.2f}/h" if short else "")
    return [Finding(BALANCE, alert_key(BALANCE), "critical" if facts.balance <= 0 else "warning",
                    summary=f"Twilio balance {facts.balance:.2f} {facts.currency}: {why}",
                    details={"balance": facts.balance, "currency": facts.currency,
                             "spendPerHour": facts.spend_per_hour,
                             "runwayHours": None if runway is None else round(runway, 2),
                             "threshold": t.balance_min})]


def mitigation_findings(facts: Facts, t: Thresholds, now: datetime) -> list[Finding]:
    found = []
    if facts.paused_since is not None:
        age = (now - facts.paused_since).total_seconds()
        if age > t.mitigation_seconds:
            found.append(Finding(MITIGATION, alert_key(MITIGATION), "warning",
                                 summary=f"The SMS kill switch has been on for {age / 60:.0f} min; "
                                         "outbound messages are held",
                                 details={"kind": "paused", "since": facts.paused_since.isoformat(),
                                          "ageSeconds": round(age)}))
    for org_id, since in sorted(facts.disabled_orgs.items()):
        age = (now - since).total_seconds()
        if age > t.mitigation_seconds:
            found.append(Finding(MITIGATION, alert_key(MITIGATION, org_id), "warning", org_id=org_id,
                                 summary=f"SMS disabled for org {org_id} for {age / 60:.0f} min; its "
                                         "outbound messages are held",
                                 details={"kind": "org_disabled", "since": since.isoformat(),
                                          "ageSeconds": round(age)}))
    return found


def webhook_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    """An org's endpoint failing for long enough: its events wait (none is dropped) until it
    answers again or their retries run out."""
    found = []
    for org_id, (seconds, waiting) in sorted(facts.failing_webhooks.items()):
        if seconds >= t.webhook_failing_seconds:
            found.append(Finding(
                WEBHOOK_FAILING, alert_key(WEBHOOK_FAILING, org_id), "warning", org_id=org_id,
                summary=f"Org {org_id}: its webhook endpoint has failed every delivery for {seconds / 60:.0f} min; "
                        f"{waiting} events wait for it (smsrelay org deliveries list {org_id})",
                details={"failingSeconds": round(seconds), "pending": waiting,
                         "thresholdSeconds": t.webhook_failing_seconds}))
    return found


def pumping_findings(facts: Facts, t: Thresholds) -> list[Finding]:
    """An org's spend, share of high-price destinations or sends to never-seen numbers far above
    its own baseline (domain/pumping.py): SMS pumping drains a balance in hours."""
    return [Finding(PUMPING, alert_key(PUMPING, s.org_id), "critical", org_id=s.org_id,
                    summary=f"Org {s.org_id}: " + "; ".join(s.describe())
                            + (f" (to {', '.join(s.countries)})" if s.countries else "")
                            + f"; see smsrelay incident diagnose, smsrelay usage --org {s.org_id}",
                    details={"reasons": list(s.reasons), "countries": list(s.countries),
                             "newNumbers": s.now.new_numbers, "cost": round(s.now.cost, 5),
                             "highPriceShare": round(s.now.high_share, 4), "windowSeconds": t.pumping_window_seconds})
            for s in facts.pumping]


def evaluate(facts: Facts, thresholds: Thresholds, now: datetime) -> list[Finding]:
    return [*failed_findings(facts, thresholds), *flat_findings(facts, thresholds),
            *delivery_rate_findings(facts, thresholds), *backlog_findings(facts, thresholds),
            *balance_findings(facts, thresholds), *mitigation_findings(facts, thresholds, now),
            *webhook_findings(facts, thresholds), *pumping_findings(facts, thresholds)]
