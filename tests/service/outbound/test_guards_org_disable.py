"""The runbook's per-org disable, run verbatim against several real worker processes: it holds
that org's sends (and only that org's) within 5 s, and lifting it sends every held message
exactly once — except those that outlived the org's validity period, which end 'failed'."""

from __future__ import annotations

import time

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.runbook import runbook_sql
from tests.support.traffic import Traffic, assert_each_sent_once, outbound_ledger, statuses
from tests.support.worker_processes import WorkerProcesses
from tests.support.waiting import wait_until

A_NUMBER, B_NUMBER = "+15017122661", "+15017122662"
TAKES_EFFECT_WITHIN = 5.0


def test_runbook_disable__holds_only_that_org_within_5s_and_lifting_it_sends_each_once(make_stack, tmp_path):
    stack = make_stack(start_worker=False)
    a = stack.create_org("A", numbers=(A_NUMBER,))
    b = stack.create_org("B", numbers=(B_NUMBER,))
    with SimulatorClient(stack.sim.url) as sim, WorkerProcesses(stack, tmp_path, count=3):
        traffic = Traffic(stack, {"A": a, "B": b}).start()
        try:
            sim.wait_for(lambda rows: len(rows) >= 3, timeout=30, from_=A_NUMBER)
            stack.sql(runbook_sql("smsDisabled", a["id"]))
            disabled_at = time.time()
            # Traffic goes on; B keeps flowing well past the deadline while A is held.
            sim.wait_for(lambda rows: sum(m["created_ts"] > disabled_at + TAKES_EFFECT_WITHIN + 1 for m in rows) >= 5,
                         timeout=30, from_=B_NUMBER)
        finally:
            traffic.stop()

        a_sent_during = [m for m in outbound_ledger(sim, A_NUMBER) if m["created_ts"] > disabled_at + TAKES_EFFECT_WITHIN]
        assert a_sent_during == [], "org A kept sending after the runbook's UPDATE"
        held_ids = [m["id"] for m in traffic.of("A") if m["at"] > disabled_at]
        assert len(held_ids) >= 10
        wait_until(lambda: all((r["metadata"].get("hold") or {}).get("reason") == "org_disabled"
                               for r in statuses(stack, held_ids).values()),
                   timeout=15, what="A's new messages to be held with their reason")
        assert all(r["status"] == "queued" for r in statuses(stack, held_ids).values())

        b_ids = [m["id"] for m in traffic.of("B")]
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, b_ids).values()),
                   timeout=30, what="all of B's messages to be delivered")

        stack.sql(f'UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = \'{a["id"]}\'')
        a_ids = [m["id"] for m in traffic.of("A")]
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, a_ids).values()),
                   timeout=60, what="every held message of A to be delivered after the disable is lifted")
        assert_each_sent_once(outbound_ledger(sim, A_NUMBER), [m["body"] for m in traffic.of("A")])
        assert_each_sent_once(outbound_ledger(sim, B_NUMBER), [m["body"] for m in traffic.of("B")])
        still_held = {i: r["metadata"] for i, r in statuses(stack, a_ids).items() if r["metadata"].get("hold") is not None}
        assert not still_held


def test_runbook_disable__messages_held_past_validity_end_failed_expired_never_sent(make_stack, tmp_path):
    stack = make_stack(start_worker=False)
    org = stack.create_org("C", numbers=(A_NUMBER,))
    validity = 4
    stack.sql('UPDATE "OrgSettings" SET "validityPeriodSeconds" = %s WHERE "orgId" = %s', (validity, org["id"]))
    stack.sql(runbook_sql("smsDisabled", org["id"]))
    with SimulatorClient(stack.sim.url) as sim, WorkerProcesses(stack, tmp_path, count=3), \
            stack.client(org["apiKey"]) as api:
        old = [api.post("/v1/messages", json={"to": "+14155552671", "body": f"old-{i}"}).json()["id"] for i in range(3)]
        wait_until(lambda: all(r["status"] == "failed" for r in statuses(stack, old).values()),
                   timeout=validity + 15, what="messages held past their validity to fail")
        fresh = [api.post("/v1/messages", json={"to": "+14155552671", "body": f"new-{i}"}).json()["id"] for i in range(3)]
        wait_until(lambda: all((r["metadata"].get("hold") or {}).get("reason") == "org_disabled"
                               for r in statuses(stack, fresh).values()), timeout=15, what="new messages held")
        stack.sql(f'UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = \'{org["id"]}\'')
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, fresh).values()),
                   timeout=30, what="messages still valid to be delivered")
        assert_each_sent_once(outbound_ledger(sim, A_NUMBER), ["new-0", "new-1", "new-2"])
    for row in statuses(stack, old).values():
        meta = row["metadata"]
        assert row["status"] == "failed"
        assert meta["expired"] is True and meta["failureReason"].startswith("expired")
        assert meta["hold"] is None


def test_lifting_a_disable__releases_held_messages_oldest_first(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org("D", numbers=(A_NUMBER,))
    stack.sql(runbook_sql("smsDisabled", org["id"]))
    stack.start_worker(concurrency=1)
    bodies = [f"in-order-{i:02d}" for i in range(8)]
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": "+14155552671", "body": b}).json()["id"] for b in bodies]
        wait_until(lambda: all((r["metadata"].get("hold") or {}).get("reason") == "org_disabled"
                               for r in statuses(stack, ids).values()), timeout=15, what="all held")
        assert outbound_ledger(sim, A_NUMBER) == []
        stack.sql(f'UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = \'{org["id"]}\'')
        rows = sim.wait_for(lambda r: len(r) == len(bodies), timeout=30, from_=A_NUMBER)
    assert [m["body"] for m in sorted(rows, key=lambda m: m["created_ts"])] == bodies
