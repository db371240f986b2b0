"""Real OS processes against a stack's database: `smsrelay worker` processes, so nothing (rate
state, switches) can be shared through process memory, and the CLI as an operator runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from tests.support.stack import Stack
from tests.support.waiting import wait_until


class WorkerProcesses:
    """`smsrelay worker` as real OS processes against the stack's database and simulator, so
    nothing (rate state, switches) can be shared through process memory."""

    def __init__(self, stack: Stack, log_dir: Path, *, count: int = 3, concurrency: int = 4,
                 env: dict[str, str] | None = None):
        self.stack = stack
        self.log_dir = log_dir
        self.count = count
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.procs: list[subprocess.Popen] = []
        # The default heartbeat (10 s; a lease of 30 s): a shorter one lets a busy test machine
        # mistake a live worker for a dead one and run its send twice.
        self.heartbeat_args = ["--heartbeat", os.environ["GUARDRAILS_HEARTBEAT"]] if os.environ.get("GUARDRAILS_HEARTBEAT") else []

    def _env(self) -> dict[str, str]:
        s = self.stack.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "TWILIO_", "FEATURE_", "RATE_"))}
        env.update({
            "DATABASE_URL": self.stack.database_url,
            "TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "TWILIO_API_BASE": self.stack.sim.url,
            "TWILIO_TIMEOUT_SECONDS": str(s.twilio_timeout_seconds),
            "PUBLIC_BASE_URL": s.public_base_url,
            "FEATURE_SMS_ENABLED": "true" if s.feature_sms_enabled else "false",
            "RATE_WINDOW_SECONDS": str(s.rate_window_seconds),
            "RATE_MARGIN_SECONDS": str(s.rate_margin_seconds),
            "LOG_LEVEL": os.environ.get("GUARDRAILS_WORKER_LOG_LEVEL", "WARNING"),
        })
        env.update(self.extra_env)
        return env

    def spawn(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        """One more worker process, not waited for (it may be meant to die, e.g. by a failpoint)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"worker-{len(self.procs) + 1}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "smsrelay", "worker", "--concurrency", str(self.concurrency), *self.heartbeat_args],
            env={**self._env(), **(env or {})}, cwd=self.log_dir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def start(self) -> "WorkerProcesses":
        for _ in range(self.count):
            self.spawn()
        wait_until(lambda: self._alive_check() and all(send_worker_id(self.stack, p.pid) for p in self.procs),
                   timeout=60, interval=0.2, what=f"{self.count} worker processes to register")
        return self

    def _alive_check(self) -> bool:
        dead = [p for p in self.procs if p.poll() is not None]
        if dead:
            raise AssertionError(f"worker exited with {dead[0].returncode}:\n{self.logs()}")
        return True

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()

    def __enter__(self) -> "WorkerProcesses":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def send_worker_id(stack: Stack, pid: int) -> str | None:
    """The send loop's id ("host:pid:random", its "SendWorker" row and the "leaseOwner" of the
    sends it runs) of the worker process `pid`, once its first heartbeat committed: the signal
    that the process claims sends (None before)."""
    rows = stack.sql("""SELECT "id" FROM "SendWorker" WHERE split_part("id", ':', 2) = %s
                        ORDER BY "startedAt" DESC LIMIT 1""", (str(pid),))
    return rows[0]["id"] if rows else None


def leased_in_flight(stack: Stack, owner: str, ids: list[str]) -> list[str]:
    """Of `ids`, the messages `owner` still holds a lease on whose in-flight marker committed (or
    whose sid came by status callback, before or after the kill): what a kill of that worker
    leaves half-sent. On a loaded machine the killed send's callback has been seen to record its
    sid before the test looked, so a missing sid is not required."""
    rows = stack.sql("""
        SELECT m."id" FROM "SendQueue" q JOIN "MessageLog" m ON m."id" = q."messageId"
        WHERE q."leaseOwner" = %s AND m."id" = ANY(%s)
          AND (m."twilioSid" IS NOT NULL
               OR (m."metadata"->'inFlight' IS NOT NULL AND m."metadata"->'inFlight' <> 'null'))""", (owner, ids))
    return [r["id"] for r in rows]


def run_cli(stack: Stack, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """`smsrelay ARGS` as an operator runs it, against the stack's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIM_", "TWILIO_", "FEATURE_", "RATE_"))}
    env.update({"DATABASE_URL": stack.database_url, "LOG_LEVEL": "WARNING", "COLUMNS": "200"})
    return subprocess.run([sys.executable, "-m", "smsrelay", *args], env=env, input=input, capture_output=True,
                          text=True, timeout=60)
