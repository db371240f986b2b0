"""SMS pumping, caught by each org's own baseline: fraudsters make an org send to numbers they
profit from (premium-rate ranges, usually in dear countries) until the balance runs out.

Pure. Per org, a window of its outbound traffic (`Window`: spend at the destinations' prices,
sends to high-price destinations, sends to numbers the org never sent to before the window) is
compared with the same window on earlier days (the baseline: the largest of those days, so a
busy weekday is not an incident). A signal fires when any of three jumps above it:

* **new numbers**: at least MIN_NEW never-seen numbers, RISE_FACTOR times the baseline's most,
  with at least MIN_HIGH sends to high-price destinations (a burst of new customers at home is not pumping);
* **high-price share**: at least MIN_HIGH sends to destinations at HIGH_PRICE a segment or
  more, HIGH_SHARE of the org's sends, and SHARE_JUMP above the baseline's share;
* **spend**: at least MIN_SPEND, RISE_FACTOR times the baseline's most.

The signal names the org and the countries that hold its never-seen numbers (most first), which
is what the autopilot holds: that org's messages to those countries, the rest flowing on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from smsrelay.domain.incident_facts import Cause

HIGH_PRICE = 0.10  # USD a segment: above every ordinary A2P destination, below premium ranges
MIN_NEW = 20
MIN_HIGH = 10
HIGH_SHARE = 0.5
SHARE_JUMP = 0.3
MIN_SPEND = 5.0
RISE_FACTOR = 3.0
# A country holding this share of the never-seen numbers (or of the high-price sends) is named.
COUNTRY_SHARE = 0.2


@dataclass(frozen=True)
class Window:
    org_id: str
    messages: int = 0
    cost: float = 0.0
    high_price: int = 0
    new_numbers: int = 0
    new_by_country: Mapping[str, int] = field(default_factory=dict)
    high_by_country: Mapping[str, int] = field(default_factory=dict)

    @property
    def high_share(self) -> float:
        return self.high_price / self.messages if self.messages else 0.0


@dataclass(frozen=True)
class Signal:
    org_id: str
    reasons: tuple[str, ...]  # new_numbers | high_price_share | spend
    countries: tuple[str, ...]
    now: Window
    baseline: Window
    since: datetime | None = None
    until: datetime | None = None

    def describe(self) -> list[str]:
        n, b = self.now, self.baseline
        lines = []
        if "new_numbers" in self.reasons:
            lines.append(f"{n.new_numbers} never-seen numbers (baseline at most {b.new_numbers})")
        if "high_price_share" in self.reasons:
            lines.append(f"{n.high_share:.0%} of sends to destinations at ≥ {HIGH_PRICE:.2f} USD a segment "
                         f"(baseline {b.high_share:.0%})")
        if "spend" in self.reasons:
            lines.append(f"{n.cost:.2f} USD spent (baseline at most {b.cost:.2f})")
        return lines


def could_signal(w: Window) -> bool:
    """Whether `detect` can flag this window whatever the baseline: every reason needs MIN_HIGH
    high-price sends or MIN_SPEND spent. The others' earlier days need not be read."""
    return w.high_price >= MIN_HIGH or w.cost >= MIN_SPEND


def needs_new_numbers(w: Window) -> bool:
    """Whether the window's never-seen numbers can change what `detect` says of it (only the
    new-numbers reason reads them, and it needs MIN_HIGH high-price sends): counting them is
    the signal's dear part."""
    return w.high_price >= MIN_HIGH


def needs_baseline_new_numbers(w: Window) -> bool:
    """Whether the earlier days' never-seen numbers can change what `detect` says of this
    window: the new-numbers reason compares them only once the window has MIN_NEW of its own."""
    return needs_new_numbers(w) and w.new_numbers >= MIN_NEW


def _most(windows: Iterable[Window], org_id: str) -> Window:
    ws = list(windows)
    if not ws:
        return Window(org_id)
    return Window(org_id, messages=max(w.messages for w in ws), cost=max(w.cost for w in ws),
                  high_price=max(w.high_price for w in ws), new_numbers=max(w.new_numbers for w in ws))


def _baseline_share(windows: Sequence[Window]) -> float:
    return max((w.high_share for w in windows), default=0.0)


def _countries(counts: Mapping[str, int]) -> tuple[str, ...]:
    total = sum(counts.values())
    return tuple(c for c, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                 if c and total and k / total >= COUNTRY_SHARE)


def detect(now: Iterable[Window], baseline: Mapping[str, Sequence[Window]], *,
           since: datetime | None = None, until: datetime | None = None) -> list[Signal]:
    found = []
    for w in now:
        days = baseline.get(w.org_id, ())
        most = _most(days, w.org_id)
        reasons = []
        # Without earlier days every number is new and any spend a jump: only the share of
        # high-price destinations speaks for a new org.
        if days and w.new_numbers >= MIN_NEW and w.high_price >= MIN_HIGH and w.new_numbers > RISE_FACTOR * most.new_numbers:
            reasons.append("new_numbers")
        if (w.high_price >= MIN_HIGH and w.high_share >= HIGH_SHARE
                and w.high_share > _baseline_share(days) + SHARE_JUMP):
            reasons.append("high_price_share")
        if days and w.cost >= MIN_SPEND and w.cost > RISE_FACTOR * most.cost:
            reasons.append("spend")
        if reasons:
            countries = _countries(w.new_by_country) if "new_numbers" in reasons else ()
            countries = countries or _countries(w.high_by_country)
            found.append(Signal(w.org_id, tuple(reasons), countries, w, most, since, until))
    return sorted(found, key=lambda s: (-s.now.cost, s.org_id))


def cause(s: Signal, window_label: str = "1h") -> Cause:
    """The diagnosis's `sms_pumping` cause of one signal."""
    where = ", ".join(s.countries) or "dear destinations"
    confidence = min(0.95, 0.6 + 0.15 * len(s.reasons))
    holds = [f"smsrelay usage caps {s.org_id} --price-ceiling {HIGH_PRICE:.2f}"]
    return Cause(
        "sms_pumping", confidence,
        f"SMS pumping suspected at org {s.org_id}: a jump of sends to {where} above its own baseline",
        tuple(s.describe()) + (f"same {window_label} on the 7 earlier days as the baseline",),
        orgs=(s.org_id,), countries=s.countries, onset=s.since, last_seen=s.until,
        share=s.now.high_share, actions=tuple(holds),
        fix=f"Find how {s.org_id}'s sends are triggered (a sign-up or OTP form, a leaked key), add a CAPTCHA or "
            f"rate limit there, and block {where} unless the org sends there on purpose")
