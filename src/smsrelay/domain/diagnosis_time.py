"""Where a diagnosed cause stands in time, and which of its commands are safe to run now.

Pure, like diagnosis.py: the window's end ("until", the database's clock) is the only "now".

* A cause is **live** while it fails: a failure in the last QUIET_SECONDS, a message still being
  retried, a live Twilio check that says so, or our own pipeline's state. It stays live when its
  failures stopped only because nothing of its scope was sent since (a pause, a disable, no
  traffic): nothing proves it cleared.
* It is **resolved** once its failures stopped and a message of the same org and sender was
  delivered (or sent on) after the last one, or when every failure was retried and delivered.
  A resolved cause ranks below every live one: the autopilot and the operator act on what fails
  now, never on what has cleared.
* Failures whose retry was delivered no longer count (the caller leaves them out).
* Mitigations already in force are never suggested again (SMS paused, an org disabled or
  throttled); retries are printed after the fix while the cause is live, as commands to run
  only once it is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import timedelta

from smsrelay.domain.incident_facts import Cause, Facts, Failure

QUIET_SECONDS = 300
RECENT_SECONDS = 600
# Ranked below every live cause whatever its confidence was while it lasted.
RESOLVED_WEIGHT = 0.35
# Causes that describe our own state, read now: live by definition.
STATE_CAUSES = ("workers_not_running", "pipeline_stalled", "none")


def unrecovered(f: Failure) -> Failure | None:
    """The part of a failure group still failing: retries that were delivered are discounted."""
    left = f.count - min(f.recovered, f.count)
    if left <= 0:
        return None
    return f if left == f.count else dataclasses.replace(f, count=left, recent=min(f.recent, left), recovered=0)


def _t(value) -> str:
    return value.strftime("%H:%M:%S UTC") if value else "?"


def _trend(failures: list[Failure], facts: Facts) -> str:
    count = sum(f.count for f in failures)
    recent = sum(f.recent for f in failures)
    span = max((facts.until - facts.since).total_seconds(), 1.0)
    if recent == 0:
        return "stopped"
    if span <= RECENT_SECONDS:
        return "steady"
    expected = count * RECENT_SECONDS / span
    if recent > 1.5 * expected:
        return "rising"
    if recent < 0.5 * expected:
        return "falling"
    return "steady"


def _last_ok(facts: Facts, orgs: Iterable[str], senders: Iterable[str]):
    """The newest delivered (or sent) message of the cause's orgs and senders."""
    orgs, senders = set(orgs), set(senders)
    times = [t.last_ok_at for t in facts.traffic if t.last_ok_at is not None and t.org_id in orgs
             and (not senders or t.sender in senders)]
    return max(times, default=None)


def situate(cause: Cause, failures: list[Failure], facts: Facts, *, recovered: int = 0,
            checked_live: bool = False) -> Cause:
    """The cause with its onset, last failure, trend and live/resolved state."""
    if cause.cause in STATE_CAUSES or not failures:
        return cause
    dated = [f for f in failures if f.last_at is not None]
    onset = min((f.first_at or f.last_at for f in dated), default=None)
    last = max((f.last_at for f in dated), default=None)
    trend = _trend(failures, facts)
    retrying = any(f.transient for f in failures)
    quiet = last is not None and facts.until - last >= timedelta(seconds=QUIET_SECONDS)
    ok_after = _last_ok(facts, cause.orgs or {f.org_id for f in failures},
                        {f.sender for f in failures if f.sender})
    resolved = quiet and not retrying and not checked_live and ok_after is not None and ok_after > last
    evidence = list(cause.evidence)
    if recovered:
        evidence.append(f"{recovered} earlier failure(s) were retried and delivered: not counted")
    if onset is not None:
        evidence.append(f"first failure at {_t(onset)}, last at {_t(last)}; trend: {trend}")
    if quiet and not resolved and not retrying:
        evidence.append(f"no new failure since {_t(last)}, but nothing of its scope went through since either: "
                        "not shown to have cleared")
    if not resolved:
        return dataclasses.replace(cause, onset=onset, last_seen=last, trend=trend, evidence=tuple(evidence),
                                   state="live")
    return dataclasses.replace(
        cause, onset=onset, last_seen=last, trend="stopped", state="resolved", resolved_at=last,
        confidence=cause.confidence * RESOLVED_WEIGHT,
        summary=f"Resolved at {_t(last)}: {cause.summary}",
        evidence=tuple(evidence + [f"delivered again at {_t(ok_after)} after the last failure"]),
        # Cleared: its retries are safe now (the retry command checks that again).
        actions=tuple(dict.fromkeys(cause.after_fix + tuple(a for a in cause.actions if " retry " in f" {a} "))),
        after_fix=())


def all_recovered(name: str, title: str, originals: list[Failure]) -> Cause:
    """A cause whose every failure was retried and delivered: resolved, said so, nothing to do."""
    last = max((f.last_at for f in originals if f.last_at), default=None)
    n = sum(f.count for f in originals)
    orgs = tuple(sorted({f.org_id for f in originals}))
    return Cause(name, 0.05, f"Resolved at {_t(last)}: {title}; all {n} failure(s) were retried and delivered",
                 (f"{n} failure(s), every one retried and delivered",), orgs, state="resolved",
                 onset=min((f.first_at or f.last_at for f in originals if f.last_at), default=None),
                 last_seen=last, resolved_at=last, trend="stopped")


def _in_force(action: str, facts: Facts) -> str | None:
    """Why `action` is already in force, or None."""
    p = facts.pipeline
    words = action.split()
    if words[:3] == ["smsrelay", "sms", "pause"] and (p.paused or not p.feature_enabled):
        return "SMS is already paused" if p.paused else "SMS is already off (FEATURE_SMS_ENABLED=false)"
    if words[:3] == ["smsrelay", "org", "disable"] and len(words) > 3 and words[3] in p.disabled_orgs:
        return f"org {words[3]} is already disabled"
    if words[:3] == ["smsrelay", "org", "throttle"] and len(words) > 3:
        limit = dict(p.throttled_orgs).get(words[3])
        wanted = next((int(w) for w in words[4:] if w.isdigit()), None)
        if limit is not None and (wanted is None or limit <= wanted):
            return f"org {words[3]} is already throttled to {limit}/min"
    return None


def without_mitigations_in_force(cause: Cause, facts: Facts) -> Cause:
    kept, notes = [], []
    for a in cause.actions:
        why = _in_force(a, facts)
        if why is None:
            kept.append(a)
        else:
            notes.append(f"already in force: {why} (not suggested again)")
    if not notes:
        return cause
    return dataclasses.replace(cause, actions=tuple(kept), evidence=cause.evidence + tuple(dict.fromkeys(notes)))


def rank_key(cause: Cause, order: dict[str, int]) -> tuple:
    # Live before resolved; "none" closes the live list. Then confidence, then the runbook's order.
    return (cause.state == "resolved", -round(cause.confidence, 4), order.get(cause.cause, len(order)))
