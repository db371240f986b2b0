"""Crash-safety fault runs: every worker process SIGKILLed while sends are in flight, again and
again, then every message counted against the simulator's ledger. Shared by the CI test (a
handful of kills, heartbeat and timeout scaled down) and `python -m bench faults` (200+ kills
with production settings).

What makes the re-runs' job hard, as in production:
- status callbacks lost for part of the sends: some workers give Twilio a StatusCallback on a
  dead port, so a send they crashed in the middle of can only be settled by finding Twilio's
  copy (dispatch's adoption); the first workers crash themselves just after Twilio accepted
  their first send, so adoption is needed at least once in every run;
- a Messaging Service sender (Twilio's copy has no From while queued) with smart encoding on,
  and bodies it rewrites (curly quotes, dashes);
- identical bodies from one org to one recipient;
- the production heartbeat and Twilio timeout (10 s each): a crashed send waits out its lease
  and the settle time before anyone may resend it.

Kills do not wait for the crashed sends to recover: those recover in the background while the
next generation of workers runs. Nothing here reads the job queue's own tables: a send in flight
is a "MessageLog" row with an in-flight marker and no sid, and which kill it belongs to is told
by the marker's fencing token (each run writes its own) and its `last` stamp.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url
from tests.support.forked_workers import Child, Forker
from tests.support.ports import free_port
from tests.support.stack import Stack
from tests.support.waiting import wait_until

FINAL = ("delivered", "undelivered", "failed", "canceled", "read")
SERVICE_SID = "MG" + "f" * 32
TWIN_GAP = 30  # message k repeats message k - TWIN_GAP (same org, recipient and body) when k % 4 == 3
RECIPIENTS = 40


@dataclass(frozen=True)
class Conditions:
    heartbeat: float = 10.0
    twilio_timeout: float = 10.0
    workers: int = 2
    concurrency: int = 8
    deaf_fraction: float = 0.3  # share of worker processes whose status callbacks are lost
    crash_after_first_send: int = 2  # first, N workers that lose callbacks and crash once Twilio has a send
    failpoints: str = "before_send:0.02,after_send:0.02"
    api_latency: str = "lognormal:300:1500"


PRODUCTION = Conditions()
# Scaled down for CI; the timeout less than the heartbeat, since on a loaded machine the
# simulator (a thread of the test process) can take seconds over its own latency.
QUICK = Conditions(heartbeat=1.0, twilio_timeout=5.0)


@dataclass
class FaultReport:
    conditions: dict
    messages: int = 0
    kills: int = 0  # kill events: every worker process SIGKILLed at once
    kills_in_send: int = 0  # kill events that interrupted at least one send
    sends_interrupted: int = 0  # sends in flight (marker committed, sid not) at those kills
    interrupted_after_twilio: int = 0  # ... of which Twilio had already created the message
    processes_killed: int = 0
    crashes: int = 0  # failpoint self-kills (one process, the others live on)
    deaf_workers: int = 0
    workers_started: int = 0
    sent_once: int = 0
    lost: int = 0  # accepted, not at Twilio, not held
    duplicated: int = 0  # ledger copies beyond the first, per message of ours
    wrong_sid: int = 0  # our row names a sid that is not its own copy's
    failed: int = 0
    retried: int = 0  # messages with more than one run of their send
    adopted: int = 0  # matched to Twilio's copy by dispatch (metadata.reconciled)
    held_unknown: int = 0  # held as unknown outcomes when the run ended
    duty: dict = field(default_factory=dict)  # what dispatch.settle_unknown_outcomes did with them
    still_unknown: int = 0
    still_unknown_at_twilio: int = 0
    unsettled: int = 0  # neither a sid, a final status nor held when the settle wait gave up
    examples: dict = field(default_factory=dict)  # the messages sent twice, with their copies
    events: list = field(default_factory=list)  # (time, what): kills and crashes, to read beside them
    ready_seconds: float = 0.0  # mean, from starting a generation of workers to its first send
    kill_seconds: float = 0.0
    settle_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.wrong_sid == 0 and self.failed == 0
                and self.kills_in_send > 0 and self.adopted > 0)

    def line(self) -> str:
        return (f"kills: {self.kills} (hit a send: {self.kills_in_send}; sends interrupted: {self.sends_interrupted}, "
                f"{self.interrupted_after_twilio} after Twilio had them)  failpoint crashes: {self.crashes}  "
                f"messages: {self.messages}  sent once: {self.sent_once}  lost: {self.lost}  "
                f"duplicated: {self.duplicated}  wrong sid: {self.wrong_sid}  failed: {self.failed}  "
                f"adopted: {self.adopted}  held unknown: {self.held_unknown} -> duty {self.duty}, "
                f"still unknown: {self.still_unknown} ({self.still_unknown_at_twilio} at Twilio)  "
                f"unsettled: {self.unsettled}  ({self.seconds:.0f} s: kills {self.kill_seconds:.0f} s, "
                f"workers ready in {self.ready_seconds:.1f} s, "
                f"settle {self.settle_seconds:.0f} s)")

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "ok": self.ok}, indent=2)


def stack_options(conditions: Conditions) -> dict:
    """`build_stack`'s arguments for a fault run (the workers are the run's own processes)."""
    return dict(start_worker=False, settings_overrides={"twilio_timeout_seconds": conditions.twilio_timeout},
                sim_overrides={"api_latency": conditions.api_latency, "speed_long_code": 200, "smart_encoding": True})


# ---- what the database says ----------------------------------------------------------------

_IN_FLIGHT = """
SELECT "id", "metadata"->'inFlight'->>'token' AS token,
       ("metadata"->'inFlight'->>'last')::timestamptz >= to_timestamp(%(since)s) AS recent
FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND jsonb_typeof("metadata"->'inFlight') = 'object'
"""
_WAITING = """
SELECT count(*)::int AS n FROM "MessageLog"
WHERE "direction" = 'outbound' AND "status" = 'queued' AND "twilioSid" IS NULL
  AND jsonb_typeof("metadata"->'inFlight') IS DISTINCT FROM 'object'
  AND jsonb_typeof("metadata"->'hold') IS DISTINCT FROM 'object'
"""
_OPEN = """
SELECT count(*)::int AS n FROM "MessageLog"
WHERE "direction" = 'outbound' AND "twilioSid" IS NULL AND "status" <> ALL(%(final)s)
  AND "metadata"->>'outcome' IS DISTINCT FROM 'unknown'
"""


class Watch:
    """One connection for the loop's polling (a connection per poll would cost more than the
    workers it watches)."""

    def __init__(self, stack: Stack) -> None:
        self.conn = psycopg.connect(psycopg_url(stack.database_url), autocommit=True, row_factory=dict_row)

    def in_flight(self, since: float) -> list[dict]:
        return self.conn.execute(_IN_FLIGHT, {"since": since}).fetchall()

    def live_sends(self, dead: set[str], since: float) -> list[dict]:
        """Sends whose run belongs to the current workers: a token no kill has orphaned, and a
        marker stamped since they started (a re-run that only waits for an earlier attempt keeps
        the dead attempt's stamp until it sends)."""
        return [r for r in self.in_flight(since) if r["recent"] and r["token"] not in dead]

    def waiting(self) -> int:
        return self.conn.execute(_WAITING).fetchone()["n"]

    def open(self) -> int:
        return self.conn.execute(_OPEN, {"final": list(FINAL)}).fetchone()["n"]

    def close(self) -> None:
        self.conn.close()


# ---- traffic --------------------------------------------------------------------------------

class Traffic:
    """Three orgs (two long codes, one Messaging Service), forty recipients, bodies that smart
    encoding rewrites, and every fourth message a repeat of an earlier one to the same person."""

    def __init__(self, stack: Stack, limit: int) -> None:
        self.stack, self.limit = stack, limit
        self.orgs = [stack.create_org("Long A", numbers=("+15017122661",)),
                     stack.create_org("Long B", numbers=("+15017122662",)),
                     stack.create_org("Service", numbers=(), messaging_service_sid=SERVICE_SID)]
        self.clients = [stack.client(o["apiKey"]) for o in self.orgs]
        self.sent: list[tuple[int, str, str]] = []  # (org, to, body) per message
        self.ids: list[str] = []

    def _message(self, k: int) -> tuple[int, str, str]:
        if k % 4 == 3 and k >= TWIN_GAP:
            return self.sent[k - TWIN_GAP]
        to = f"+1415555{3000 + (k * 7) % RECIPIENTS:04d}"
        body = f"It\u2019s \u201cready\u201d \u2013 order {k}" if k % 2 else f"order {k} is ready"
        return k % len(self.orgs), to, body

    def feed(self, count: int) -> None:
        for _ in range(max(0, min(count, self.limit - len(self.ids)))):
            org, to, body = self._message(len(self.ids))
            resp = self.clients[org].post("/v1/messages", json={"to": to, "body": body})
            assert resp.status_code == 202, resp.text
            self.sent.append((org, to, body))
            self.ids.append(resp.json()["id"])

    def close(self) -> None:
        for c in self.clients:
            c.close()


# ---- workers --------------------------------------------------------------------------------

class Workers:
    def __init__(self, stack: Stack, conditions: Conditions, rng: random.Random) -> None:
        self.stack, self.c, self.rng = stack, conditions, rng
        self.forker = Forker()
        self.procs: list[Child] = []
        self.started = self.deaf = 0
        self.dead_port = free_port()  # nothing listens: callbacks sent there are lost
        self.calm = False  # once set, new workers neither crash themselves nor lose callbacks

    def _spawn(self, *, deaf: bool | None = None, failpoints: str | None = None) -> Child:
        if deaf is None:
            deaf = not self.calm and self.rng.random() < self.c.deaf_fraction
        if failpoints is None:
            failpoints = "" if self.calm else self.c.failpoints
        s = self.stack.settings
        env = dict(os.environ, DATABASE_URL=self.stack.database_url, TWILIO_API_BASE=self.stack.sim.url,
                   SMSRELAY_FAILPOINTS=failpoints, TWILIO_ACCOUNT_SID=s.twilio_account_sid,
                   TWILIO_AUTH_TOKEN=s.twilio_auth_token, TWILIO_TIMEOUT_SECONDS=str(self.c.twilio_timeout),
                   PUBLIC_BASE_URL=f"http://127.0.0.1:{self.dead_port}" if deaf else self.stack.api_url,
                   LOG_LEVEL="ERROR")
        self.started += 1
        self.deaf += deaf
        return self.forker.start(env, ["worker", "--concurrency", str(self.c.concurrency),
                                       "--heartbeat", str(self.c.heartbeat)])

    def crash_after_first_send(self, timeout: float = 90.0) -> int:
        """Workers whose callbacks are lost and that die as soon as Twilio has accepted a send:
        each leaves at least one send only Twilio's copy can settle. How many crashed."""
        self.procs = [self._spawn(deaf=True, failpoints="after_send:1") for _ in range(self.c.crash_after_first_send)]
        try:
            wait_until(lambda: not any(p.alive() for p in self.procs), timeout=timeout, interval=0.05,
                       what="the first workers to crash after their first send")
        finally:
            crashed = sum(not p.alive() for p in self.procs)
            self.kill_all()
        return crashed

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.c.workers)]

    def respawn_dead(self) -> int:
        """Restart processes that died by themselves (failpoints); how many did."""
        dead = [i for i, p in enumerate(self.procs) if not p.alive()]
        for i in dead:
            self.procs[i].wait()
            self.procs[i] = self._spawn()
        return len(dead)

    def kill_all(self) -> int:
        killed = sum(p.alive() for p in self.procs)
        for p in self.procs:
            p.send_kill()
        for p in self.procs:
            p.wait()
        self.procs = []
        return killed

    def close(self) -> None:
        self.kill_all()
        self.forker.close()


# ---- the run --------------------------------------------------------------------------------

def run_kills(stack: Stack, *, kills: int, conditions: Conditions = PRODUCTION, seed: int = 7,
              max_messages: int | None = None, budget_seconds: float = 1500.0,
              settle_timeout: float = 300.0, max_kill_delay: float = 0.3) -> FaultReport:
    """`kills` times: wait until the current workers have a send in flight, wait a random
    moment (before, during or after the Twilio call), SIGKILL every worker process, start new
    ones at once. Then let everything settle, run the unknown-outcome duty, and count."""
    rng = random.Random(seed)
    report = FaultReport(conditions=asdict(conditions))
    started = time.monotonic()
    traffic = Traffic(stack, max_messages or 25 * max(kills, 4))
    watch = Watch(stack)
    workers = Workers(stack, conditions, rng)
    backlog = 2 * conditions.workers * conditions.concurrency
    dead: set[str] = set()  # tokens of runs whose process is gone
    interrupted: list[tuple[str, float]] = []  # (message id, when its send was killed)
    try:
        traffic.feed(backlog)
        report.crashes += workers.crash_after_first_send()
        dead.update(r["token"] for r in watch.in_flight(0))
        workers.start()
        generation = time.time()
        ready: list[float] = []
        looping = time.monotonic()
        while report.kills < kills and time.monotonic() - looping < budget_seconds:
            traffic.feed(backlog - watch.waiting())
            crashed = workers.respawn_dead()
            if crashed:
                # Its sends cannot be told from the survivors': none of them counts as a kill's.
                report.crashes += crashed
                report.events.append((time.time(), f"crash x{crashed}"))
                dead.update(r["token"] for r in watch.in_flight(generation))
            if not watch.live_sends(dead, generation):
                time.sleep(0.02)
                continue
            ready.append(time.time() - generation)
            time.sleep(rng.uniform(0.0, max_kill_delay))
            report.processes_killed += workers.kill_all()
            killed_at = time.time()
            report.events.append((killed_at, "kill"))
            report.kills += 1
            # Read once the processes are dead, so their state cannot move on.
            hit = watch.live_sends(dead, generation)
            report.kills_in_send += bool(hit)
            interrupted.extend((r["id"], killed_at) for r in hit)
            dead.update(r["token"] for r in watch.in_flight(0))
            workers.calm = report.kills >= kills
            workers.start()
            generation = time.time()
        report.kill_seconds = time.monotonic() - started
        report.ready_seconds = sum(ready) / len(ready) if ready else 0.0
        workers.calm = True
        _settle(report, stack, watch, workers, settle_timeout)
    finally:
        workers.close()
        traffic.close()
        watch.close()
    report.workers_started, report.deaf_workers = workers.started, workers.deaf
    _count(report, stack, traffic.ids, interrupted)
    report.seconds = time.monotonic() - started
    return report


def _settle(report: FaultReport, stack: Stack, watch: Watch, workers: Workers, timeout: float) -> None:
    """Every message gets a sid, a final status or an unknown-outcome hold (bounded); then the
    scheduler's unknown-outcome duty asks Twilio about the held ones, and what it releases is
    given the same time to settle."""
    from smsrelay.service.outbound import dispatch

    began = time.monotonic()

    def settled() -> bool:
        report.crashes += workers.respawn_dead()
        return watch.open() == 0

    def wait() -> None:
        try:
            wait_until(settled, timeout=timeout, interval=0.5, what="every message to settle")
        except AssertionError:
            pass  # what is still open is counted

    wait()
    report.held_unknown = _held_count(stack)
    if report.held_unknown:
        report.duty = stack.run(lambda rt: dispatch.settle_unknown_outcomes(rt, limit=1000))
        if report.duty.get("released"):
            wait()
    report.unsettled = watch.open()
    report.settle_seconds = time.monotonic() - began


def _held_count(stack: Stack) -> int:
    return stack.sql("""SELECT count(*)::int AS n FROM "MessageLog" WHERE "direction" = 'outbound'
                        AND "twilioSid" IS NULL AND "metadata"->>'outcome' = 'unknown'""")[0]["n"]


def _message_id(callback_url: str | None) -> str | None:
    """Ours carry it: the StatusCallback URL names the message (whatever the host it points at)."""
    return (parse_qs(urlsplit(callback_url or "").query).get("messageId") or [None])[0]


def _count(report: FaultReport, stack: Stack, ids: list[str], interrupted: list[tuple[str, float]]) -> None:
    with SimulatorClient(stack.sim.url) as sim:
        ledger = [m for m in sim.ledger(direction="outbound-api")]
    copies: dict[str, list[dict]] = {}
    for entry in ledger:
        if (mid := _message_id(entry["status_callback"])) is not None:
            copies.setdefault(mid, []).append(entry)
    rows = {r["id"]: r for r in stack.sql('SELECT "id", "status", "twilioSid", "metadata" FROM "MessageLog" '
                                          'WHERE "id" = ANY(%s)', (ids,))}
    per_message = Counter({i: len(copies.get(i, ())) for i in ids})
    report.messages = len(ids)
    report.sent_once = sum(1 for i in ids if per_message[i] == 1)
    report.duplicated = sum(max(0, n - 1) for n in per_message.values())
    held = {i for i, r in rows.items() if (r["metadata"] or {}).get("outcome") == "unknown" and not r["twilioSid"]}
    report.lost = sum(1 for i in ids if per_message[i] == 0 and i not in held)
    report.wrong_sid = sum(1 for i, r in rows.items() if r["twilioSid"]
                           and r["twilioSid"] not in {c["sid"] for c in copies.get(i, ())})
    report.failed = sum(1 for r in rows.values() if r["status"] == "failed")
    report.retried = sum(1 for r in rows.values() if int((r["metadata"] or {}).get("attempts", 0)) > 1
                         or (r["metadata"] or {}).get("reconciled"))
    report.adopted = sum(1 for r in rows.values() if (r["metadata"] or {}).get("reconciled"))
    report.still_unknown = len(held)
    report.still_unknown_at_twilio = sum(1 for i in held if per_message[i])
    report.examples = {i: {"metadata": rows[i]["metadata"], "sid": rows[i]["twilioSid"],
                           "copies": [(c["sid"], c["created_ts"], c["status_callback"]) for c in copies[i]]}
                       for i in ids if per_message[i] > 1}
    report.sends_interrupted = len(interrupted)
    # The killed attempt's request may still be processed up to the timeout after the kill; no
    # re-run may send before its lease and settle wait have passed, which is longer.
    timeout = report.conditions["twilio_timeout"]
    report.interrupted_after_twilio = sum(1 for mid, killed_at in interrupted
                                          if any(c["created_ts"] <= killed_at + timeout for c in copies.get(mid, ())))
