"""`smsrelay up`: run every part as a child process and stop them all together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

SMSRELAY = [sys.executable, "-m", "smsrelay"]


class Supervisor:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: Sequence[str]) -> None:
        # Own process group: Ctrl-C reaches the supervisor, which stops children in order.
        proc = subprocess.Popen([*SMSRELAY, *args], env=self.env, start_new_session=True)
        self.children.append((name, proc))

    def wait(self) -> int:
        """Block until Ctrl-C/SIGTERM or a child dies; returns the exit code to use."""
        stopping = {"flag": False}

        def _stop(signum, frame):
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stopping["flag"]:
                for name, proc in self.children:
                    if proc.poll() is not None:
                        print(f"smsrelay: {name} exited with {proc.returncode}; stopping everything", file=sys.stderr)
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return 0

    def stop(self, grace: float = 10.0) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
