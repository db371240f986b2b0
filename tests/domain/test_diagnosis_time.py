"""A diagnosis that knows what time it is: live before resolved, retried-and-delivered failures
discounted, no mitigation already in force suggested, retries only after the fix, one command
per org."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from smsrelay.domain.diagnosis import Failure, Pipeline, Traffic, TwilioChecks, diagnose
from tests.domain.test_diagnosis import NOW, ORGS, SENDERS, facts


def at(code, org, n, minutes_ago, *, span=10, **kw) -> Failure:
    last = NOW - timedelta(minutes=minutes_ago)
    return Failure(code, org, SENDERS[org], n, first_at=last - timedelta(minutes=span), last_at=last,
                   recent=n if minutes_ago < 10 else 0, **kw)


def delivered_until(f, minutes_ago=1):
    """Every org's traffic got through up to `minutes_ago` before the end of the window."""
    ok = NOW - timedelta(minutes=minutes_ago)
    return replace(f, traffic=tuple(Traffic(t.org_id, t.sender, t.total, last_ok_at=ok) for t in f.traffic))


def names(causes):
    return [c.cause for c in causes]


def test_a_cause_that_stopped_while_traffic_flows__is_resolved_and_ranks_below_live_ones():
    f = delivered_until(facts([at("20003", "org_a", 40, 45),          # account: fixed 45 min ago
                               at("21606", "org_a", 30, 40),          # sender: fixed
                               at("30007", "org_a", 30, 35),          # content: fixed
                               at("21408", "org_b", 8, 1, country="FR")]))  # geo: failing now
    causes = diagnose(f)
    assert causes[0].cause == "geo_permissions" and causes[0].state == "live"
    resolved = {c.cause: c for c in causes if c.state == "resolved"}
    assert set(resolved) == {"account", "sender_number", "content_filtering"}
    assert all(c.summary.startswith("Resolved at") for c in resolved.values())
    assert names(causes).index("none") < min(names(causes).index(n) for n in resolved)
    assert causes[0].onset is not None and causes[0].last_seen == NOW - timedelta(minutes=1)


def test_failures_that_stopped_because_nothing_was_sent__stay_live():
    # SMS paused: no failure for 20 minutes, but nothing went through either.
    f = facts([at("30002", "org_a", 20, 20)], pipeline=Pipeline(paused={"by": "ops", "since": "x", "reason": "r"}))
    account = next(c for c in diagnose(f) if c.cause == "account")
    assert account.state == "live" and any("not shown to have cleared" in e for e in account.evidence)


def test_a_live_twilio_check__keeps_the_account_cause_live():
    f = delivered_until(facts([at("30002", "org_a", 20, 30)],
                              twilio=TwilioChecks(balance=-1.0, currency="USD", account_status="active")))
    account = next(c for c in diagnose(f) if c.cause == "account")
    assert account.state == "live" and account.confidence > 0.9


def test_failures_retried_and_delivered__no_longer_count():
    causes = diagnose(delivered_until(facts([at("30008", o, 10, 20, recovered=10) for o in ORGS])))
    assert causes[0].cause == "none" and "No incident" in causes[0].summary
    outage = next(c for c in causes if c.cause == "provider_outage")
    assert outage.state == "resolved" and "retried and delivered" in outage.summary


def test_partly_recovered_failures__count_only_what_still_failed():
    whole = next(c for c in diagnose(facts([at("30007", "org_a", 20, 1)])) if c.cause == "content_filtering")
    part = next(c for c in diagnose(facts([at("30007", "org_a", 20, 1, recovered=16)]))
                if c.cause == "content_filtering")
    assert part.confidence < whole.confidence
    assert any("4 message(s) with 30007" in e for e in part.evidence)


def test_a_mitigation_already_in_force__is_not_suggested_again():
    paused = Pipeline(paused={"by": "ops", "since": "12:00", "reason": "balance"}, disabled_orgs=("org_b",),
                      throttled_orgs=(("org_c", 10),))
    causes = diagnose(facts([at("20003", "org_a", 20, 1), at("30007", "org_b", 20, 1), at("20429", "org_c", 20, 1)],
                            pipeline=paused))
    actions = [a for c in causes for a in c.actions]
    assert not [a for a in actions if a.startswith("smsrelay sms pause")]
    assert not [a for a in actions if a.startswith("smsrelay org disable org_b")]
    assert not [a for a in actions if a.startswith("smsrelay org throttle org_c")]
    account = next(c for c in causes if c.cause == "account")
    assert any("already in force: SMS is already paused" in e for e in account.evidence)


def test_a_non_retryable_cause_prints_its_retry_after_the_fix_one_command_per_org():
    causes = diagnose(facts([at("21408", o, 8, 1, country="FR") for o in ORGS]))
    geo = causes[0]
    assert geo.cause == "geo_permissions" and geo.fix and "Geo permissions" in geo.fix
    assert not [a for a in geo.actions if " retry " in f" {a} "]
    assert sorted(geo.after_fix) == sorted(f"smsrelay retry --since 1h --org {o} --codes 21408 --yes" for o in ORGS)
    assert len([a for a in geo.actions if a.startswith("smsrelay incident failures")]) == len(ORGS)


def test_once_resolved__its_retries_become_actions():
    geo = next(c for c in diagnose(delivered_until(facts([at("21408", "org_a", 8, 30)]))) if c.cause == "geo_permissions")
    assert geo.state == "resolved"
    assert "smsrelay retry --since 1h --org org_a --codes 21408 --yes" in geo.actions and not geo.after_fix


def test_trend__rising_when_the_last_minutes_hold_most_failures():
    f = facts([replace(at("30007", "org_a", 30, 1, span=50), recent=25)])
    assert diagnose(f)[0].trend == "rising"
