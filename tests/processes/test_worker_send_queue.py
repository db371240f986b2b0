"""The send loop in real worker processes: a killed worker's leased sends are sent exactly once
by another after the lease, while Twilio hangs no connection holds a transaction open, and a
worker yields the CPU to the API (WORKER_NICE)."""

from __future__ import annotations

import collections
import os

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until
from tests.support.worker_processes import WorkerProcesses, leased_in_flight, send_worker_id

SENDER = "+15017122661"


def _post(stack, org, n: int, tag: str) -> list[str]:
    with stack.client(org["apiKey"]) as api:
        return [api.post("/v1/messages", json={"to": f"+1415555{5000 + i:04d}", "body": f"{tag} {i}"}).json()["id"]
                for i in range(n)]


def test_sigkilled_worker__its_leased_sends_go_exactly_once_through_another_worker(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides={"twilio_timeout_seconds": 2.0})
    org = stack.create_org(numbers=(SENDER,))
    ids = _post(stack, org, 8, "lease")
    workers = WorkerProcesses(stack, tmp_path, count=0, concurrency=4, env={"LOG_LEVEL": "INFO"})
    workers.heartbeat_args = ["--heartbeat", "1"]
    try:
        # The first send Twilio accepts kills its worker (SIGKILL, before the sid is recorded),
        # with up to three more of its claimed sends in flight.
        doomed = workers.spawn({"SMSRELAY_FAILPOINTS": "after_send:1"})
        owner = wait_until(lambda: send_worker_id(stack, doomed.pid), timeout=60, interval=0.05,
                           what="the first worker to register")
        doomed.wait(timeout=60)
        assert doomed.returncode == -9
        orphaned = leased_in_flight(stack, owner, ids)
        assert orphaned, "the kill left half-sent messages under its lease"
        workers.spawn()
        # A sid can arrive by status callback (it names our id) before the second worker has re-run
        # the orphaned send; the run, once its lease is over, finds it recorded and finishes the row.
        wait_until(lambda: all(stack.message(i)["twilioSid"] for i in ids)
                   and stack.sql('SELECT count(*) AS n FROM "SendQueue"')[0]["n"] == 0, timeout=120, interval=0.5,
                   what="every message settled and its queue row finished by the second worker")
    finally:
        workers.stop()
    with SimulatorClient(stack.sim.url) as sim:
        copies = collections.Counter(m["body"] for m in sim.ledger(from_=SENDER))
    assert copies == {f"lease {i}": 1 for i in range(8)}, "each message sent exactly once"
    assert stack.sql('SELECT count(*) AS n FROM "SendQueue"')[0]["n"] == 0


def test_while_twilio_hangs__the_claim_is_committed_and_no_transaction_is_left_open(make_stack):
    stack = make_stack(sim_overrides={"outage_hang_seconds": 60.0},
                       settings_overrides={"twilio_timeout_seconds": 8.0})
    org = stack.create_org(numbers=(SENDER,))
    to = "+14155550199"
    with SimulatorClient(stack.sim.url) as sim:
        # Twilio creates the message, then never answers the request.
        sim.set_scenario("created_then_timeout", for_seconds=30)
        try:
            with stack.client(org["apiKey"]) as api:
                message_id = api.post("/v1/messages", json={"to": to, "body": "hang on"}).json()["id"]
            wait_until(lambda: sim.ledger(to=to), timeout=20, interval=0.05, what="the request to reach Twilio")
            # Another connection sees the lease: it committed before the call.
            lease = stack.sql('SELECT "leaseOwner", "dueAt" > now() AS leased FROM "SendQueue" WHERE "messageId" = %s',
                              (message_id,))
            assert lease and lease[0]["leaseOwner"] and lease[0]["leased"], lease
            assert stack.message(message_id)["metadata"]["inFlight"], "the in-flight marker committed"
            open_transactions = stack.sql("""
                SELECT application_name, state, query FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND (state LIKE 'idle in transaction%%' OR xact_start IS NOT NULL AND state <> 'active')""")
            assert open_transactions == [], open_transactions
        finally:
            sim.reset()  # ends the hung request


def test_worker_process__yields_the_cpu_to_the_api_by_worker_nice(make_stack, tmp_path):
    # Accept latency while the pipeline is saturated depends on the API winning the cores.
    stack = make_stack(start_worker=False)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with WorkerProcesses(stack, tmp_path, count=0) as workers:
        default = workers.spawn()
        off = workers.spawn(env={"WORKER_NICE": "0"})
        wait_until(lambda: send_worker_id(stack, default.pid) and send_worker_id(stack, off.pid),
                   timeout=60, what="both workers to start")
        assert os.getpriority(os.PRIO_PROCESS, default.pid) == min(19, base + 10)
        assert os.getpriority(os.PRIO_PROCESS, off.pid) == base
