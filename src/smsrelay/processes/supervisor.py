"""`smsrelay up`: run every part as a child process, restart one that dies, stop them all together.

A child that exits on its own (a crash, an OOM kill, `kill -9`) is restarted after a backoff
that doubles with each failure; the others keep running, so losing a worker does not take the
API down. Only a child that keeps failing (more than `max_restarts` exits within `window`
seconds) makes the supervisor give up: it says so, stops everything and exits non-zero, since
restarting it further would only hide a fault an operator has to fix.

The embedded PostgreSQL is not one of these children: `up` itself owns it (store/embedded.py)
and stops it after the children on the way out.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

SMSRELAY = [sys.executable, "-m", "smsrelay"]

MAX_RESTARTS = 5
WINDOW_SECONDS = 60.0
BACKOFF_MIN_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    name: str
    args: Sequence[str]
    proc: subprocess.Popen
    exits: deque[float] = field(default_factory=deque)  # monotonic times of recent unplanned exits
    restart_at: float | None = None  # set while the child is dead and waiting for its backoff
    restarts: int = 0


class Supervisor:
    def __init__(self, env: dict[str, str], *, max_restarts: int = MAX_RESTARTS, window: float = WINDOW_SECONDS,
                 backoff_min: float = BACKOFF_MIN_SECONDS, backoff_max: float = BACKOFF_MAX_SECONDS,
                 command: Sequence[str] = SMSRELAY, clock: Callable[[], float] = time.monotonic):
        self.env = env
        self.max_restarts = max_restarts
        self.window = window
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.command = list(command)
        self.clock = clock
        self.children: list[Child] = []

    def _spawn(self, args: Sequence[str]) -> subprocess.Popen:
        # Own process group: Ctrl-C reaches the supervisor, which stops children in order.
        return subprocess.Popen([*self.command, *args], env=self.env, start_new_session=True)

    def start(self, name: str, args: Sequence[str]) -> None:
        self.children.append(Child(name, list(args), self._spawn(args)))

    def check(self) -> str | None:
        """One supervision pass: schedule or perform restarts. Returns why to give up, if so."""
        now = self.clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.proc = self._spawn(child.args)
                    child.restart_at = None
                    child.restarts += 1
                    log.warning("smsrelay: %s restarted (pid %d)", child.name, child.proc.pid)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            # A child killed alone (kill -9 of its leader) can leave its own children in its
            # group, still holding its port; they go with it before the new one starts.
            _signal_group(child.proc, signal.SIGKILL)
            child.exits.append(now)
            while child.exits and now - child.exits[0] > self.window:
                child.exits.popleft()
            failures = len(child.exits)
            if failures > self.max_restarts:
                return (f"{child.name} exited with {code}, {failures} times within {self.window:.0f}s; "
                        "giving up and stopping everything")
            delay = min(self.backoff_min * 2 ** (failures - 1), self.backoff_max)
            child.restart_at = now + delay
            log.warning("smsrelay: %s exited with %s; restarting it in %.1fs (failure %d of %d allowed within %.0fs)",
                        child.name, code, delay, failures, self.max_restarts, self.window)
        return None

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM (0) or a child that keeps failing (1)."""
        stopping = {"flag": False}

        def _stop(signum, frame):
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stopping["flag"]:
                reason = self.check()
                if reason:
                    log.error("smsrelay: %s", reason)
                    return 1
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            pass
        return 0

    def stop(self, grace: float = 10.0) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.proc, signal.SIGKILL)
                child.proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
