"""Worker processes forked from one that has already imported smsrelay, so a fault run can
restart its workers at once after every SIGKILL: `python -m smsrelay worker` spends seconds of
CPU importing before its first send, which on a loaded two-core machine made every kill wait
longer than the send it was meant to interrupt.

The children are real `smsrelay worker` processes (the CLI's own command, each with its own
environment), only started by fork. Protocol, one JSON line per worker on stdin:
`{"env": {...}, "argv": ["worker", ...]}`; the answer is the child's pid on a line of stdout.
Children are reaped by the kernel (SIGCHLD ignored); the parent watches each through a pidfd.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _child(request: dict) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    from smsrelay import failpoints

    # Read at import, which happened in the parent before the fork.
    failpoints._POINTS.clear()
    failpoints._POINTS.update(failpoints._parse(os.environ.get("SMSRELAY_FAILPOINTS", "")))
    from smsrelay.cli import main

    sys.argv = ["smsrelay", *request["argv"]]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        code = 1
    os._exit(code)


def serve() -> None:
    import smsrelay.cli  # noqa: F401  everything a worker imports, once, before any fork
    import smsrelay.cli.serve  # noqa: F401
    import smsrelay.processes.worker  # noqa: F401
    import smsrelay.service.runtime  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(pid, flush=True)


class Child:
    """A forked worker, held by a pidfd: a pid can be reused by another process once this one is
    gone, a pidfd cannot, so a late kill can never hit anyone else."""

    def __init__(self, pid: int, parent: int) -> None:
        self.pid = pid
        try:
            self.fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.fd = -1
            return
        if _parent_of(pid) != parent:  # died and reused before the pidfd was taken
            os.close(self.fd)
            self.fd = -1

    def alive(self) -> bool:
        return self.fd >= 0 and not select.select([self.fd], [], [], 0)[0]

    def send_kill(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.fd, signal.SIGKILL)

    def wait(self) -> None:
        if self.fd >= 0:
            select.select([self.fd], [], [])  # readable once the process has exited
            os.close(self.fd)
            self.fd = -1

    def kill(self) -> None:
        self.send_kill()
        self.wait()


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


class Forker:
    """The parent process's handle: start() a worker, as a Child to watch and kill."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.support.forked_workers"], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the worker forker did not start")
        self.children: list[Child] = []

    def start(self, env: dict[str, str], argv: list[str]) -> Child:
        self.proc.stdin.write(json.dumps({"env": env, "argv": argv}) + "\n")
        child = Child(int(self.proc.stdout.readline()), self.proc.pid)
        self.children = [c for c in self.children if c.fd >= 0] + [child]
        return child

    def close(self) -> None:
        for child in self.children:
            child.kill()
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


if __name__ == "__main__":
    serve()
