"""Crash-safety fault runs: real worker processes SIGKILLed at random points of their sends,
checked against the simulator's ledger. Shared by the CI test (a handful of kills) and the
full run in bench/ (50+ kills)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from smsrelay.service.jobs import SEND_TASK
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.stack import Stack
from tests.support.waiting import wait_until


@dataclass
class FaultReport:
    messages: int
    kills: int
    external_kills: int  # SIGKILLs sent by the run (the rest of `kills` are failpoint crashes)
    kills_in_send: int  # external kills that interrupted at least one send (marker set, sid not committed)
    sent_once: int
    lost: int
    duplicates: int
    interrupted: int
    adopted: int
    seconds: float

    def line(self) -> str:
        return (f"kills survived: {self.kills}  kills that hit a send: {self.kills_in_send} of {self.external_kills}  "
                f"messages: {self.messages}  sent once: {self.sent_once}  "
                f"lost: {self.lost}  duplicates: {self.duplicates}  interrupted sends: {self.interrupted}  "
                f"adopted from Twilio: {self.adopted}  ({self.seconds:.0f} s)")


def worker_env(stack: Stack, failpoints: str = "") -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=stack.database_url, TWILIO_API_BASE=stack.sim.url,
                SMSRELAY_FAILPOINTS=failpoints,
                TWILIO_ACCOUNT_SID=stack.settings.twilio_account_sid,
                TWILIO_AUTH_TOKEN=stack.settings.twilio_auth_token,
                PUBLIC_BASE_URL=stack.api_url, TWILIO_TIMEOUT_SECONDS="3", LOG_LEVEL="ERROR")


def spawn_worker(stack: Stack, failpoints: str = "") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "smsrelay", "worker", "--concurrency", "4", "--heartbeat", "1"],
                            env=worker_env(stack, failpoints), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _newest_worker_id(stack: Stack) -> int:
    return stack.sql("SELECT coalesce(max(id), 0) AS id FROM procrastinate_workers")[0]["id"]


def spawn_registered(stack: Stack, failpoints: str = "") -> tuple[subprocess.Popen, int]:
    """A worker process and its procrastinate worker id (the jobs it runs carry it), so a kill
    can be told to have landed in a send or not. One spawn at a time, so the newest
    registration is this process's."""
    while True:
        before = _newest_worker_id(stack)
        proc = spawn_worker(stack, failpoints)
        wait_until(lambda: proc.poll() is not None or _newest_worker_id(stack) > before, timeout=60,
                   interval=0.05, what="the worker process to register")
        newest = _newest_worker_id(stack)
        if newest > before:
            return proc, newest
        # Died before registering: nothing of it to attribute; start another.


_IN_FLIGHT = """
SELECT j.worker_id, m."id" FROM procrastinate_jobs j JOIN "MessageLog" m ON m."id" = j.args->>'message_id'
WHERE j.status = 'doing' AND j.task_name = %s AND m."id" = ANY(%s) AND m."status" = 'queued'
  AND m."metadata"->'inFlight' IS NOT NULL AND m."metadata"->'inFlight' <> 'null'
"""


def run_kills(stack: Stack, *, messages: int, kills: int, workers: int = 2, seed: int = 7,
              failpoints: str = "before_send:0.04,after_send:0.04", settle_timeout: float = 180.0,
              kill_budget_seconds: float = 150.0) -> FaultReport:
    """`kills` external SIGKILLs while sends are in flight, plus the workers' own failpoint
    crashes (each counted, each worker restarted). A kill counts in `kills_in_send` when the
    killed worker still held a send whose marker was committed and whose sid was not: read
    after the process is dead, so its state cannot move on. When no send is in flight for 15 s,
    the loop stops early and the shortfall shows in `kills_in_send` (callers assert a minimum)."""
    rng = random.Random(seed)
    started = time.monotonic()
    org = stack.create_org("Crashy", numbers=("+15017122661",))
    bodies = [f"crash-test message {i}" for i in range(messages)]
    ids: list[str] = []
    # Fed in waves, one per kill: all at once, the queue drains within seconds and the later
    # kills find nothing in flight.
    wave = -(-messages // (kills + 1))

    def feed(count: int) -> None:
        with stack.client(org["apiKey"]) as api:
            for i in range(len(ids), min(messages, len(ids) + count)):
                ids.append(api.post("/v1/messages", json={"to": f"+1415555{3000 + i:04d}", "body": bodies[i]}).json()["id"])

    feed(wave)
    procs = [spawn_registered(stack, failpoints) for _ in range(workers)]
    killed = hits = 0

    def respawn_dead() -> bool:
        nonlocal killed
        respawned = False
        for i, (p, _) in enumerate(procs):
            if p.poll() is not None:
                killed += 1
                procs[i] = spawn_registered(stack, failpoints)
                respawned = True
        return respawned

    def unsettled() -> bool:
        rows = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "id" = ANY(%s) AND "status" NOT IN '
                         "('delivered', 'failed', 'undelivered')", (ids,))
        return rows[0]["n"] > 0

    def wait_for_a_send(quiet_seconds: float = 15.0) -> bool:
        """True once a send is in flight; False after `quiet_seconds` with live workers and none.
        Restarting a crashed worker (seconds on a loaded machine) does not count as quiet."""
        deadline = time.monotonic() + quiet_seconds
        while time.monotonic() < deadline:
            if respawn_dead():
                deadline = time.monotonic() + quiet_seconds
            if sending():
                return True
            time.sleep(0.02)
        return False

    def sending() -> dict[int, list[str]]:
        by_worker: dict[int, list[str]] = {}
        for row in stack.sql(_IN_FLIGHT, (SEND_TASK, ids)):
            by_worker.setdefault(row["worker_id"], []).append(row["id"])
        return by_worker

    external = 0
    try:
        while external < kills:
            if len(ids) < (external + 1) * wave:
                feed(wave)
            # Kill while sends are under way (a worker that is still starting proves nothing),
            # at a random point: before, during or just after the Twilio call.
            if not wait_for_a_send():
                if time.monotonic() - started > kill_budget_seconds:
                    break  # the shortfall shows in kills_in_send
                if unsettled():
                    # Crashed attempts waiting out their settle time: they will be sent again, so
                    # wait for them rather than spend the messages the later kills need.
                    continue
                if len(ids) < messages:
                    feed(wave)
                    continue
                break  # nothing left to send: the shortfall shows in kills_in_send
            time.sleep(rng.uniform(0.0, 0.2))
            busy = sending()
            candidates = [i for i, (_, wid) in enumerate(procs) if wid in busy]
            if not candidates:
                continue  # the sends finished meanwhile: wait for the next one rather than kill idle
            victim = rng.choice(candidates)
            proc, worker_id = procs[victim]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed += 1
            external += 1
            hits += bool(sending().get(worker_id))
            procs[victim] = spawn_registered(stack, failpoints)

        feed(messages)  # whatever the loop did not send for

        def settled() -> bool:
            respawn_dead()
            rows = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "id" = ANY(%s) AND "status" IN '
                             "('delivered', 'failed', 'undelivered')", (ids,))
            return rows[0]["n"] == len(ids)

        try:
            wait_until(settled, timeout=settle_timeout, interval=0.5, what="every message to settle")
        except AssertionError:
            pass  # counted as lost below
    finally:
        for p, _ in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    with SimulatorClient(stack.sim.url) as sim:
        ledger = sim.ledger(from_="+15017122661")
    per_body = Counter(entry["body"] for entry in ledger)
    delivered = {r["id"] for r in stack.sql('SELECT "id" FROM "MessageLog" WHERE "id" = ANY(%s) AND "status" = %s',
                                             (ids, "delivered"))}
    rows = stack.sql('SELECT "metadata" FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))
    return FaultReport(
        messages=messages, kills=killed, external_kills=external, kills_in_send=hits,
        sent_once=sum(1 for b in bodies if per_body[b] == 1),
        lost=sum(1 for b, i in zip(bodies, ids) if per_body[b] == 0 or i not in delivered),
        duplicates=sum(max(0, c - 1) for c in per_body.values()),
        interrupted=sum(1 for r in rows if int(r["metadata"].get("attempts", 0)) > 1),
        adopted=sum(1 for r in rows if r["metadata"].get("reconciled")),
        seconds=time.monotonic() - started,
    )
