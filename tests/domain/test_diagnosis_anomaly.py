"""Uncatalogued codes and surges of background codes are incidents of their own, judged
against the same hours on earlier days; ordinary noise is not."""

from __future__ import annotations

from datetime import timedelta

from smsrelay.domain.diagnosis import Baseline, Failure, diagnose
from tests.domain.test_diagnosis import NOW, ORGS, SENDERS, facts

RECENT = NOW - timedelta(minutes=2)


def fail(code, org, n, **kw) -> Failure:
    return Failure(code, org, SENDERS[org], n, first_at=NOW - timedelta(minutes=30), last_at=RECENT,
                   recent=n // 3, **kw)


def history(per_org=700, **codes) -> tuple[Baseline, ...]:
    """A week of the same hour: per_org messages per org, and `codes` failures spread over orgs."""
    rows = [Baseline("", o, per_org, 7) for o in ORGS]
    for code, n in codes.items():
        rows += [Baseline(code.lstrip("c"), o, n // len(ORGS), 7) for o in ORGS]
    return tuple(rows)


def test_a_burst_of_an_uncatalogued_code_at_one_org__is_its_own_incident():
    f = facts([fail("39999", "org_b", 40, country="DE", template="tpl_welcome")], baseline=history())
    top = diagnose(f)[0]
    assert top.cause == "unknown_code" and top.state == "live"
    assert top.codes == ("39999",) and top.orgs == ("org_b",)
    assert "39999" in top.summary and "org_b" in top.summary and "40.0%" in top.summary
    assert top.countries == ("DE",) and top.templates == ("tpl_welcome",)
    assert top.confidence >= 0.6
    none = next(c for c in diagnose(f) if c.cause == "none")
    assert "No incident" not in none.summary


def test_without_any_history__a_concentrated_unknown_code_still_stands_out():
    top = diagnose(facts([fail("39999", "org_a", 30)]))[0]
    assert top.cause == "unknown_code" and "org_a" in top.summary


def test_scattered_noise_of_an_unknown_code__is_no_incident():
    causes = diagnose(facts([fail("39999", o, 1) for o in ORGS], baseline=history(c39999=21)))
    assert causes[0].cause == "none" and "No incident" in causes[0].summary
    assert not [c for c in causes if c.cause == "unknown_code"]


def test_an_unknown_code_at_its_usual_rate__is_no_incident():
    # 3% of every org's traffic today, as on every earlier day at this hour.
    causes = diagnose(facts([fail("39999", o, 3) for o in ORGS], baseline=history(c39999=63)))
    assert causes[0].cause == "none", causes[0]


def test_an_unknown_code_rising_over_its_baseline__is_an_incident_even_spread_out():
    # 8% of every org's traffic, where it used to be 0.5%.
    causes = diagnose(facts([fail("39999", o, 8) for o in ORGS], baseline=history(c39999=10)))
    top = causes[0]
    assert top.cause == "unknown_code" and any("above its baseline" in e for e in top.evidence)


def test_a_background_code_far_above_its_usual_rate_at_one_org__is_a_surge():
    # 30003 at 30% of org_c's traffic; 1% usually. Overall it is 10%: destination says so too,
    # but the surge names where it is.
    causes = diagnose(facts([fail("30003", "org_c", 30)], baseline=history(c30003=21)))
    surge = next(c for c in causes if c.cause == "code_surge")
    assert surge.orgs == ("org_c",) and surge.codes == ("30003",) and surge.confidence >= 0.5


def test_a_background_code_at_its_usual_rate__is_not_a_surge():
    causes = diagnose(facts([fail("30003", o, 2) for o in ORGS], baseline=history(c30003=42)))
    assert not [c for c in causes if c.cause == "code_surge"]
    assert causes[0].cause == "none"
