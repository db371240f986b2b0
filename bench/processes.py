"""What a benchmark run starts and stops: a fresh database, the simulator, API and worker
processes (each a separate `python -m smsrelay …` process, as in production), and a sampler
that records each process's peak memory.

Everything listens on 127.0.0.1. Every process is started in its own session and stopped by
its own pid at the end of the run, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg

from smsrelay.store.db import psycopg_url
from smsrelay.store.migrate import upgrade

from bench.pgcpu import PostgresCpu, breakdown
# One harness for tests and benchmarks: the same database helpers (tests/support/).
from tests.support.postgres import EmbeddedPostgres, with_database

LOCAL_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
LOGS = Path(tempfile.gettempdir()) / "smsrelay-bench-logs"


class Database:
    """A fresh, migrated database for one run: on the machine's PostgreSQL when reachable
    (BENCH_ADMIN_URL, TEST_DATABASE_URL or 127.0.0.1:5432), else an embedded server."""

    def __init__(self) -> None:
        self.admin_url: str | None = None
        self.embedded: EmbeddedPostgres | None = None
        self.kind = ""
        self.names: list[str] = []

    def _admin(self) -> psycopg.Connection:
        assert self.admin_url
        return psycopg.connect(psycopg_url(self.admin_url), autocommit=True, connect_timeout=3)

    def start(self) -> None:
        for candidate in (os.environ.get("BENCH_ADMIN_URL"), os.environ.get("TEST_DATABASE_URL"), LOCAL_ADMIN_URL):
            if not candidate:
                continue
            try:
                self.admin_url = candidate
                with self._admin():
                    pass
                self.kind = "PostgreSQL server " + urlsplit(psycopg_url(candidate)).netloc
                return
            except psycopg.OperationalError:
                self.admin_url = None
        self.embedded = EmbeddedPostgres(prefix="smsrelay-bench-pg-").start()
        self.admin_url = self.embedded.admin_url
        self.kind = "embedded PostgreSQL"

    def create(self, label: str) -> str:
        name = f"smsrelay_bench_{label}_{uuid.uuid4().hex[:8]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        url = with_database(self.admin_url, name)
        upgrade(url)
        return url

    def server_version(self) -> str:
        with self._admin() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]

    def stop(self) -> None:
        if self.admin_url is None:
            return
        if os.environ.get("BENCH_KEEP_DATABASES"):
            print(f"kept databases: {', '.join(self.names)}")
        else:
            for name in self.names:
                with contextlib.suppress(Exception), self._admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.embedded is not None:
            self.embedded.stop()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    port: int | None = None
    log: Path | None = None


@dataclass
class Cluster:
    """The processes of one run. env is shared by every child (DATABASE_URL, TWILIO_*, SIM_*)."""

    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    profile: str | None = None  # a process name to run under pyinstrument

    def start(self, name: str, args: list[str], *, port: int | None = None, extra_env: dict | None = None) -> Proc:
        LOGS.mkdir(parents=True, exist_ok=True)
        log = LOGS / f"{name}.log"
        cmd = [sys.executable, "-m", "smsrelay", *args]
        if self.profile == name:
            cmd = [sys.executable, "-m", "bench.profiled", f"bench/profiles/{name}.txt", *args]
        env = dict(self.env, **(extra_env or {}))
        # Own session: the benchmark stops each child (and only its children) by its own pid.
        popen = subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                 start_new_session=True)
        proc = Proc(name, popen, port, log)
        self.procs.append(proc)
        return proc

    def wait_http(self, proc: Proc, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{proc.port}{path}", timeout=1.0, trust_env=False).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{proc.name} did not answer {path} within {timeout}s; see {proc.log}")

    def stop(self, proc: Proc, grace: float = 15.0) -> None:
        if proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


LOADGEN = "bench (load generator)"


@dataclass
class CpuReading:
    """CPU seconds so far of each watched process (with its children) and, when the server is
    local, of every PostgreSQL server process (bench/pgcpu.py)."""

    procs: dict[str, float]
    pg: tuple | None  # a PostgresCpu snapshot


def cpu_used(before: CpuReading, after: CpuReading) -> tuple[dict[str, float], dict[str, float] | None]:
    """CPU seconds between two readings: per watched process, and per kind of PostgreSQL server
    process (None when the server is not local)."""
    procs = {name: after.procs[name] - before.procs.get(name, 0.0) for name in after.procs}
    pg = breakdown(before.pg, after.pg) if before.pg is not None and after.pg is not None else None
    return procs, pg


class MemorySampler:
    """Peak RSS per named process, sampled every 0.25 s in a thread (psutil), and the CPU
    readings the stages take. PostgreSQL's RSS is the sum over the backends of the run's
    databases; that sum counts shared buffers once per backend that touched them, so it is an
    upper bound."""

    def __init__(self, admin_url: str | None, databases: list[str]):
        self.peaks: dict[str, float] = {}
        self._watch: dict[str, int] = {LOADGEN: os.getpid()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.pg = PostgresCpu(admin_url, databases)
        self._pg_backends = 0

    def watch(self, name: str, pid: int) -> None:
        self._watch[name] = pid

    def start(self) -> None:
        self._thread.start()

    @staticmethod
    def _tree(name: str, pid: int) -> list[psutil.Process]:
        # A process and its children: pyinstrument or uvicorn may run the real work in a child.
        # Not the load generator's: its children are the processes under test.
        p = psutil.Process(pid)
        return [p] if name == LOADGEN else [p, *p.children(recursive=True)]

    def _rss(self, name: str, pid: int) -> float:
        try:
            return sum(q.memory_info().rss for q in self._tree(name, pid)) / 2**20
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0.0

    def _run(self) -> None:
        tick = 0
        while not self._stop.wait(0.25):
            for name, pid in list(self._watch.items()):
                self.peaks[name] = max(self.peaks.get(name, 0.0), self._rss(name, pid))
            if self.pg.local and tick % 8 == 0:  # the backends change slowly; every 2 s
                pids = self.pg.pids_of_our_backends()
                total = 0.0
                for pid in pids:
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        total += psutil.Process(pid).memory_info().rss / 2**20
                self._pg_backends = max(self._pg_backends, len(pids))
                old = next((k for k in self.peaks if k.startswith("postgres backends")), None)
                best = max(total, self.peaks.pop(old, 0.0) if old else 0.0)
                self.peaks[f"postgres backends (sum RSS, ≤{self._pg_backends})"] = best
            tick += 1

    def cpu_seconds(self) -> CpuReading:
        """User + system CPU of each watched process (with its children) and of every process
        of the PostgreSQL server so far."""
        out: dict[str, float] = {}
        for name, pid in list(self._watch.items()):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                out[name] = sum(sum(q.cpu_times()[:2]) for q in self._tree(name, pid))
        return CpuReading(out, self.pg.snapshot() if self.pg.local else None)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(timeout=5)
        self.pg.close()
        return dict(self.peaks)


def machine() -> dict[str, str]:
    import platform

    load = os.getloadavg()
    return {
        "cpu": f"{psutil.cpu_count(logical=True)} logical CPUs ({platform.processor() or platform.machine()})",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": platform.platform(),
        "load": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        "pg_client": shutil.which("psql") or "-",
    }
