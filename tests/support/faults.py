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

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.stack import Stack
from tests.support.waiting import wait_until


@dataclass
class FaultReport:
    messages: int
    kills: int
    sent_once: int
    lost: int
    duplicates: int
    interrupted: int
    adopted: int
    seconds: float

    def line(self) -> str:
        return (f"kills survived: {self.kills}  messages: {self.messages}  sent once: {self.sent_once}  "
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


def run_kills(stack: Stack, *, messages: int, kills: int, workers: int = 2, seed: int = 7,
              failpoints: str = "before_send:0.04,after_send:0.04", settle_timeout: float = 180.0) -> FaultReport:
    """`kills` external SIGKILLs while sends are in flight, plus the workers' own failpoint
    crashes (each counted, each worker restarted)."""
    rng = random.Random(seed)
    started = time.monotonic()
    org = stack.create_org("Crashy", numbers=("+15017122661",))
    bodies = [f"crash-test message {i}" for i in range(messages)]
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": f"+1415555{3000 + i:04d}", "body": body}).json()["id"]
               for i, body in enumerate(bodies)]
    procs = [spawn_worker(stack, failpoints) for _ in range(workers)]
    killed = 0

    def respawn_dead() -> None:
        nonlocal killed
        for i, p in enumerate(procs):
            if p.poll() is not None:
                killed += 1
                procs[i] = spawn_worker(stack, failpoints)

    try:
        def sending_now() -> bool:
            return bool(stack.sql('SELECT 1 FROM "MessageLog" WHERE "id" = ANY(%s) AND "status" = %s '
                                  'AND "metadata"->\'inFlight\' IS NOT NULL AND "metadata"->\'inFlight\' <> \'null\' '
                                  'LIMIT 1', (ids, "queued")))

        for _ in range(kills):
            # Kill while sends are under way (a worker that is still starting proves nothing),
            # at a random point: before, during or just after the Twilio call.
            try:
                wait_until(lambda: respawn_dead() or sending_now(), timeout=15, interval=0.02, what="a send in flight")
            except AssertionError:
                break
            time.sleep(rng.uniform(0.0, 0.4))
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            killed += 1
            procs[victim] = spawn_worker(stack, failpoints)

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
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
    with SimulatorClient(stack.sim.url) as sim:
        ledger = sim.ledger(from_="+15017122661")
    per_body = Counter(entry["body"] for entry in ledger)
    delivered = {r["id"] for r in stack.sql('SELECT "id" FROM "MessageLog" WHERE "id" = ANY(%s) AND "status" = %s',
                                             (ids, "delivered"))}
    rows = stack.sql('SELECT "metadata" FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))
    return FaultReport(
        messages=messages, kills=killed,
        sent_once=sum(1 for b in bodies if per_body[b] == 1),
        lost=sum(1 for b, i in zip(bodies, ids) if per_body[b] == 0 or i not in delivered),
        duplicates=sum(max(0, c - 1) for c in per_body.values()),
        interrupted=sum(1 for r in rows if int(r["metadata"].get("attempts", 0)) > 1),
        adopted=sum(1 for r in rows if r["metadata"].get("reconciled")),
        seconds=time.monotonic() - started,
    )
