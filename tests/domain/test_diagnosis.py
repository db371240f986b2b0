"""Diagnosis ranking rules: facts in, ranked causes out, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from smsrelay.domain.diagnosis import (Facts, Failure, Held, NumberCheck, Pipeline, Traffic, TwilioChecks,
                                       cause_of, diagnose)
from smsrelay.domain.catalogue import CAUSES

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
ORGS = ("org_a", "org_b", "org_c")
SENDERS = {"org_a": "+15017122661", "org_b": "+15017122662", "org_c": "+15017122663"}


def facts(failures=(), per_org=100, pipeline=None, twilio=None, **kw) -> Facts:
    traffic = tuple(Traffic(o, SENDERS[o], per_org) for o in ORGS)
    return Facts(since=NOW - timedelta(hours=1), until=NOW, traffic=traffic, failures=tuple(failures),
                 pipeline=pipeline or Pipeline(), twilio=twilio or TwilioChecks(balance=50.0, account_status="active"),
                 **kw)


def fail(code, org="org_a", n=10, **kw) -> Failure:
    return Failure(code, org, SENDERS[org], n, **kw)


def top(f: Facts):
    return diagnose(f)[0]


def test_healthy__none_with_high_confidence():
    causes = diagnose(facts())
    assert [c.cause for c in causes] == ["none"] and causes[0].confidence >= 0.9


def test_background_destination_noise__is_not_an_incident():
    causes = diagnose(facts([fail("30003", o, 2) for o in ORGS] + [fail("30005", "org_a", 1)]))
    assert causes[0].cause == "none"
    destination = next(c for c in causes if c.cause == "destination")
    assert destination.confidence < 0.3 and "background" in destination.summary


def test_destination_spike__ranks_destination_first():
    c = top(facts([fail("30003", o, 40) for o in ORGS]))
    assert c.cause == "destination" and c.confidence >= 0.8 and "background" not in c.summary


@pytest.mark.parametrize("code,cause", [("21606", "sender_number"), ("30034", "sender_number"),
                                        ("30007", "content_filtering"), ("30004", "content_filtering"),
                                        ("20429", "rate_limiting"), ("30001", "rate_limiting"),
                                        ("21408", "geo_permissions"), ("30008", "provider_outage"),
                                        ("20003", "account"), ("30002", "account")])
def test_abnormal_codes__named_even_for_one_org(code, cause):
    c = top(facts([fail(code, "org_b", 8)]))
    assert c.cause == cause and c.confidence >= 0.6
    assert c.orgs == ("org_b",) and "one org (org_b) of 3" in c.summary
    assert all(a.startswith("smsrelay ") for a in c.actions)


def test_all_orgs_affected__says_so():
    c = top(facts([fail("30007", o, 20) for o in ORGS]))
    assert "all 3 orgs" in c.summary and set(c.orgs) == set(ORGS)


def test_a_single_abnormal_failure__is_weak():
    causes = diagnose(facts([fail("21408", n=1)]))
    assert causes[0].cause == "none"
    assert next(c for c in causes if c.cause == "geo_permissions").confidence < 0.5


def test_geo__lists_countries():
    c = top(facts([fail("21408", n=6, country="FR")]))
    assert any("FR (6)" in e for e in c.evidence)


def test_live_account_checks__win_without_failures():
    for checks in (TwilioChecks(balance=-0.42, currency="USD", account_status="suspended"),
                   TwilioChecks(error_code=20003, error_http_status=401, error_message="Authenticate")):
        c = top(facts(twilio=checks))
        assert c.cause == "account" and c.confidence >= 0.9


def test_inactive_number__corroborates_sender_number():
    bad = TwilioChecks(balance=10, account_status="active",
                       numbers=(NumberCheck("+15017122662", True, "inactive", False),))
    plain = top(facts([fail("21606", "org_b", 4)])).confidence
    c = top(facts([fail("21606", "org_b", 4)], twilio=bad))
    assert c.cause == "sender_number" and c.confidence > plain and c.numbers == ("+15017122662",)
    assert "smsrelay twilio number +15017122662" in c.actions


def test_transient_server_errors_and_a_silent_twilio__provider_outage():
    failures = [Failure("20503", o, SENDERS[o], 5, transient=True, http_status=503) for o in ORGS]
    c = top(facts(failures, twilio=TwilioChecks(timed_out=True)))
    assert c.cause == "provider_outage" and c.confidence >= 0.8
    assert cause_of(Failure(None, "org_a", None, 1, transient=True)) == "provider_outage"
    assert cause_of(Failure(None, "org_a", None, 1, transient=True, http_status=429)) == "rate_limiting"


def test_no_workers_with_a_queue_and_inbound__workers_not_running_then_pipeline_stalled():
    p = Pipeline(queued_unsent=12, oldest_queued_age_s=300, workers_alive=0, workers_registered=0,
                 inbound_recent=5, outbound_recent=12, outbound_handed_recent=0)
    first, second = diagnose(facts(pipeline=p))[:2]
    assert first.cause == "workers_not_running" and first.confidence >= 0.9 and "smsrelay worker" in first.actions
    assert second.cause == "pipeline_stalled" and any("inbound continues" in e for e in second.evidence)


def test_mitigations_left_on__pipeline_stalled_names_the_org():
    p = Pipeline(disabled_orgs=("org_c",), held=(Held("org_disabled", "org_c", 30),),
                 paused={"paused": True, "by": "cli:alice", "since": "2024-05-01T11:00:00Z", "reason": "drill"})
    c = top(facts(pipeline=p))
    assert c.cause == "pipeline_stalled" and c.orgs == ("org_c",)
    assert {"smsrelay sms resume", "smsrelay org enable org_c"} <= set(c.actions)
    assert any("cli:alice" in e for e in c.evidence)


def test_ranking__ordered_by_confidence_vocabulary_fixed_and_json_shape():
    causes = diagnose(facts([fail("30007", n=30), fail("30003", "org_b", 3), fail("99999", "org_c", 2)]))
    assert [c.confidence for c in causes] == sorted((c.confidence for c in causes), reverse=True)
    assert {c.cause for c in causes} <= set(CAUSES) and "none" in {c.cause for c in causes}
    d = causes[0].to_dict()
    assert set(d) == {"cause", "confidence", "summary", "evidence", "orgs", "numbers", "actions", "state", "onset",
                      "lastSeen", "resolvedAt", "trend", "share", "codes", "countries", "templates", "channels",
                      "fix", "afterFix"}
    assert 0 <= d["confidence"] <= 1
    none = next(c for c in causes if c.cause == "none")
    assert any("99999" in e for e in none.evidence)
