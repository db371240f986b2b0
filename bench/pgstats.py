"""Statements and transactions per unit of work, per stage, from the server's own counters:
pg_stat_statements (reset for the bench database before a stage, read after) and
pg_stat_database's xact_commit (read before and after).

pg_stat_statements counts top-level statements (BEGIN and COMMIT included, the statements
inside a plpgsql function not), so its calls are the round trips the clients made. The
benchmark's own polling is marked with BENCH_TAG and left out.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import psycopg

from smsrelay.store.db import psycopg_url

BENCH_TAG = "/* bench */"

TOP = """
SELECT calls, total_exec_time, rows, query FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE %(tag)s
ORDER BY {order} DESC LIMIT %(n)s
"""

TOTALS = """
SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)::float8 FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE %(tag)s
"""

COMMITS = "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"


def shorten(query: str, width: int = 110) -> str:
    text = re.sub(r"\s+", " ", query).strip()
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class StageStatements:
    calls: int
    exec_ms: float
    commits: int
    rollbacks: int
    by_calls: list[dict] = field(default_factory=list)
    by_time: list[dict] = field(default_factory=list)


class Statements:
    """Counters of one database. `available` is False (with `why_not`) when the extension cannot
    be created or is not preloaded; the transaction counts are read either way."""

    def __init__(self, url: str):
        self.url = url
        self.available = False
        self.why_not = ""
        self._commits: tuple[int, int] = (0, 0)
        self.stage_ok = False
        try:
            with self._connect() as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT 1 FROM pg_stat_statements LIMIT 1")
            self.available = True
        except psycopg.Error as e:
            self.why_not = f"pg_stat_statements unavailable: {str(e).splitlines()[0]}"

    def _connect(self) -> psycopg.Connection:
        # A shared server may be out of connection slots for a moment: ask a few times.
        for attempt in range(5):
            try:
                return psycopg.connect(psycopg_url(self.url), autocommit=True, application_name="bench statements")
            except psycopg.OperationalError:
                if attempt == 4:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def reset(self) -> None:
        try:
            self._reset()
            self.stage_ok = True
        except psycopg.OperationalError as e:
            self.stage_ok = False
            print(f"    statements: could not reset ({str(e).splitlines()[0]}); this stage's are not measured",
                  flush=True)

    def _reset(self) -> None:
        with self._connect() as conn:
            if self.available:
                # Only this database's entries: the view is per server and others may be measuring.
                conn.execute(f"{BENCH_TAG} SELECT pg_stat_statements_reset(0, "
                             "(SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
            # Backends flush their transaction counts when idle, at most once a second.
            conn.execute("SELECT pg_stat_clear_snapshot()")
            self._commits = conn.execute(COMMITS).fetchone()

    def read(self, top: int = 8) -> StageStatements | None:
        """None when this stage's counters could not be reset or read."""
        if not self.stage_ok:
            return None
        try:
            return self._read(top)
        except psycopg.OperationalError as e:
            print(f"    statements: could not read ({str(e).splitlines()[0]})", flush=True)
            return None

    def _read(self, top: int) -> StageStatements:
        with self._connect() as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            commits, rollbacks = conn.execute(COMMITS).fetchone()
            calls, exec_ms = 0, 0.0
            by_calls: list[dict] = []
            by_time: list[dict] = []
            if self.available:
                tag = {"tag": f"{BENCH_TAG}%", "n": top}
                calls, exec_ms = conn.execute(TOTALS, tag).fetchone()
                for order, out in (("calls", by_calls), ("total_exec_time", by_time)):
                    for c, t, rows, q in conn.execute(TOP.format(order=order), tag).fetchall():
                        out.append({"calls": c, "total_ms": round(t, 1), "rows": rows, "query": shorten(q)})
        return StageStatements(calls, exec_ms, commits - self._commits[0], rollbacks - self._commits[1],
                               by_calls, by_time)
