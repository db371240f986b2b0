"""CPU of every process of the PostgreSQL server, when it runs on this machine: the postmaster
and all its children (WAL writer, checkpointer, background writer, autovacuum launcher and
workers, walsenders, every backend of every database), read with psutil.

A child that exits between two readings (a short-lived connection, an autovacuum worker) is
not lost: the postmaster reaps it, and the kernel adds its CPU to the postmaster's
children_user/children_system. So a stage's total is exact; only its attribution to a kind of
process is lost for such children, which are reported as "exited during the stage".
Other databases on the same server count too: the server's CPU is what the machine pays.
"""

from __future__ import annotations

import contextlib
import threading

import psutil
import psycopg

from smsrelay.store.db import psycopg_url

EXITED = "postmaster + children that exited meanwhile"
OURS = "backends of this run's databases"
OTHERS = "backends of other databases (not ours)"

Snapshot = dict[int, tuple[str, float]]  # pid -> (kind, user+system CPU seconds)


class PostgresCpu:
    """Reads the server's process tree; `local` is False when the server is not on this machine
    (then nothing is measured and the report says so)."""

    def __init__(self, admin_url: str | None, databases: list[str]):
        self._url = admin_url
        self._databases = databases
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self.postmaster: psutil.Process | None = None
        self.why_not = ""
        if admin_url:
            self._find_postmaster()
        else:
            self.why_not = "no PostgreSQL server"

    @property
    def local(self) -> bool:
        return self.postmaster is not None

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        # One long-lived admin connection: a new backend per reading would itself cost the
        # server a fork and a few ms of CPU every time.
        with self._lock:
            for _ in range(2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = psycopg.connect(psycopg_url(self._url), autocommit=True, connect_timeout=3,
                                                     application_name="bench cpu sampler")
                    return self._conn.execute(sql, params).fetchall()
                except psycopg.OperationalError:
                    self._conn = None
            return []

    def _find_postmaster(self) -> None:
        try:
            rows = self._query("SELECT pg_backend_pid(), extract(epoch FROM pg_postmaster_start_time())")
        except psycopg.Error as e:
            self.why_not = f"cannot ask the server ({e})"
            return
        if not rows:
            self.why_not = "cannot ask the server"
            return
        pid, started = rows[0][0], float(rows[0][1])
        try:
            parent = psutil.Process(pid).parent()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            parent = None
        # The backend's pid exists here and its parent started when the server says it did:
        # the same machine, not a pid that merely happens to exist.
        if parent is None or abs(parent.create_time() - started) > 2:
            self.why_not = "the PostgreSQL server is not on this machine"
            return
        self.postmaster = parent

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def pids_of_our_backends(self) -> list[int]:
        rows = self._query("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (self._databases,))
        return [r[0] for r in rows]

    def _kinds(self) -> dict[int, str]:
        rows = self._query("SELECT pid, backend_type, datname FROM pg_stat_activity")
        kinds = {}
        for pid, backend_type, datname in rows:
            if backend_type == "client backend":
                kinds[pid] = OURS if datname in self._databases else OTHERS
            elif backend_type in ("autovacuum worker", "parallel worker"):
                kinds[pid] = backend_type + "s"
            else:
                kinds[pid] = backend_type or "other"
        return kinds

    def snapshot(self) -> tuple[Snapshot, float]:
        """(per live child: kind and CPU so far; the postmaster's own CPU plus that of every child
        it has reaped)."""
        assert self.postmaster is not None
        kinds = self._kinds()
        out: Snapshot = {}
        with self.postmaster.oneshot():
            t = self.postmaster.cpu_times()
            reaped = t.user + t.system + t.children_user + t.children_system
            children = self.postmaster.children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                c = child.cpu_times()
                kind = kinds.get(child.pid)
                if kind is None:  # not in pg_stat_activity: read its title ("postgres: 15/main: archiver")
                    kind = _kind_from_title(child.cmdline())
                out[child.pid] = (kind, c.user + c.system)
        return out, reaped

    def rss_of_our_backends(self) -> float:
        total = 0.0
        for pid in self.pids_of_our_backends():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += psutil.Process(pid).memory_info().rss / 2**20
        return total


def _kind_from_title(cmdline: list[str]) -> str:
    title = cmdline[0].rsplit(": ", 1)[-1].strip() if cmdline else ""
    # A backend's title is "user database host(port) state": one bucket, not one per connection.
    if "(" in title or " " in title:
        return "backends not yet listed in pg_stat_activity"
    return title or "other"


def breakdown(before: tuple[Snapshot, float], after: tuple[Snapshot, float]) -> dict[str, float]:
    """CPU seconds per kind of server process between two snapshots (the postmaster's own CPU
    and that of children that exited in between are one bucket: the kernel no longer tells them
    apart)."""
    (b_live, b_reaped), (a_live, a_reaped) = before, after
    used: dict[str, float] = {}
    for pid, (kind, cpu) in a_live.items():
        used[kind] = used.get(kind, 0.0) + cpu - b_live.get(pid, (kind, 0.0))[1]
    gone = sum(cpu for pid, (_, cpu) in b_live.items() if pid not in a_live)
    used[EXITED] = a_reaped - b_reaped - gone
    return used
