"""`incident diagnose` against the real database when the worker died (its "SendWorker" row
left with an old heartbeat, as `kill -9` leaves it) during a Twilio outage: our side first."""

from __future__ import annotations

from tests.support.incident import diagnose, make_orgs, recipient, send, settled, sim


def test_diagnose__killed_worker_during_twilio_errors_names_our_worker_first(make_stack):
    stack = make_stack(sim_overrides={"outage_hang_seconds": 0})
    orgs = make_orgs(stack)
    with sim(stack) as s:
        s.set_scenario("outage")
        ids = [send(stack, org, recipient(10 * i + k)) for i, org in enumerate(orgs) for k in range(3)]
        settled(stack, ids)  # each retrying after Twilio's 5xx
        for worker in stack.workers:
            worker.stop()
        # What a SIGKILLed worker leaves: its row, heartbeat frozen 40 s ago (past the lease of 3
        # heartbeats); the messages have waited a minute since.
        stack.sql("""INSERT INTO "SendWorker" ("id", "heartbeatAt", "expiresAt")
                     VALUES ('dead:1', now() - interval '40 seconds', now() - interval '10 seconds')""")
        stack.sql('''UPDATE "MessageLog" SET "createdAt" = "createdAt" - interval '60 seconds' WHERE "id" = ANY(%s)''',
                  (ids,))
        causes = diagnose(stack)["causes"]
        s.clear_scenarios()
    assert causes[0]["cause"] == "workers_not_running", [(c["cause"], c["confidence"]) for c in causes]
    assert any("heartbeat" in e for e in causes[0]["evidence"])
    assert "smsrelay worker" in causes[0]["actions"]
    assert "provider_outage" in [c["cause"] for c in causes]
