"""When our workers are the ones missing, diagnose says so above any Twilio cause."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsrelay.domain.diagnosis import Facts, Failure, Pipeline, Traffic, TwilioChecks, diagnose

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SENDERS = {"org_a": "+15017122661", "org_b": "+15017122662"}


def facts(pipeline: Pipeline, failures=(), twilio=None) -> Facts:
    return Facts(since=NOW - timedelta(hours=1), until=NOW, traffic=tuple(Traffic(o, s, 40) for o, s in SENDERS.items()),
                 failures=tuple(failures), pipeline=pipeline,
                 twilio=twilio or TwilioChecks(balance=50.0, account_status="active"))


def test_dead_worker_during_a_twilio_blip__workers_not_running_outranks_provider_outage():
    """A worker killed while Twilio answered 503s: the retries wait for a worker that is gone.
    Twilio's failures are real, but nothing is sent until a worker runs again."""
    failures = [Failure("20503", o, s, 8, transient=True, http_status=503) for o, s in SENDERS.items()]
    p = Pipeline(queued_unsent=16, oldest_queued_age_s=90, jobs_todo=16, workers_alive=0, workers_registered=1,
                 last_heartbeat_age_s=75)
    causes = diagnose(facts(p, failures, TwilioChecks(timed_out=True)))
    assert causes[0].cause == "workers_not_running", [(c.cause, c.confidence) for c in causes]
    assert "smsrelay worker" in causes[0].actions
    assert any("heartbeat" in e and "75 s" in e for e in causes[0].evidence)
    assert any("registered but silent" in e for e in causes[0].evidence)
    assert "provider_outage" in [c.cause for c in causes[1:]]
    stalled = [c for c in causes if c.cause == "pipeline_stalled"]
    assert not any("heartbeat" in e for c in stalled for e in c.evidence), "said twice"


def test_account_problem_does_not_outrank_missing_workers():
    p = Pipeline(queued_unsent=3, oldest_queued_age_s=45, workers_alive=0, workers_registered=0)
    causes = diagnose(facts(p, twilio=TwilioChecks(balance=-1.0, account_status="suspended")))
    assert [c.cause for c in causes[:2]] == ["workers_not_running", "account"]


def test_young_queue_or_a_live_worker__no_workers_not_running():
    """A message queued moments ago may be waiting for a worker the supervisor is restarting."""
    for p in (Pipeline(queued_unsent=3, oldest_queued_age_s=5, workers_alive=0),
              Pipeline(queued_unsent=3, oldest_queued_age_s=300, workers_alive=1),
              Pipeline(queued_unsent=0, workers_alive=0)):
        assert "workers_not_running" not in [c.cause for c in diagnose(facts(p))], p
