"""What a stage cost, per unit of work: CPU of every process (PostgreSQL: every server process,
by kind) and, from the server's counters, statements and commits.

Two cores give 2,000 CPU-ms a second, so the sum over smsrelay, the simulator and PostgreSQL
bounds what a stage can reach on this machine, whatever the code does with its time.
"""

from __future__ import annotations

import time

import psutil

from bench.pgstats import Statements
from bench.processes import LOADGEN, CpuReading, MemorySampler, cpu_used
from bench.report import Figure, Report

PG_ALL = "postgres (every server process)"


class StageCost:
    """Readings around one stage: `start()` before its load, `stop()` when its load ended (CPU),
    `figures()` once its unit count is known."""

    def __init__(self, sampler: MemorySampler, statements: Statements | None, settle_s: float):
        self.sampler, self.statements, self.settle_s = sampler, statements, settle_s
        self._cpu: tuple[CpuReading, CpuReading | None] | None = None
        self._ended = 0.0

    def start(self) -> None:
        if self.statements is not None:
            self.statements.reset()
        self._cpu = (self.sampler.cpu_seconds(), None)
        self._ended = 0.0

    def stop(self) -> None:
        assert self._cpu is not None
        if self._cpu[1] is None:
            self._cpu = (self._cpu[0], self.sampler.cpu_seconds())
            self._ended = time.monotonic()

    def figures(self, report: Report, key: str, count: int, what: str) -> None:
        self.stop()
        before, after = self._cpu  # type: ignore[misc]
        cpu_figures(report, key, before, after, count, what, self.sampler)
        if self.statements is not None:
            # Idle backends flush their transaction counts within ten seconds (PostgreSQL 15).
            time.sleep(max(0.0, self._ended + self.settle_s - time.monotonic()))
            statement_figures(report, key, self.statements, count, what)


def cpu_figures(report: Report, key: str, before: CpuReading, after: CpuReading, count: int, what: str,
                sampler: MemorySampler) -> None:
    if count <= 0:
        return
    procs, pg = cpu_used(before, after)
    used = {name: v for name, v in procs.items() if v > 0.01}
    if pg is not None:
        used[PG_ALL] = sum(pg.values())
    cores = psutil.cpu_count(logical=True) or 1
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        fkey = f"{key}_cpu_postgres" if name == PG_ALL else f"{key}_cpu_{name}"
        note = f"{seconds:.1f} CPU-s over {count:,}"
        if name == PG_ALL:
            note += "; other databases on this server count too"
        report.add(fkey, Figure(f"  CPU per {what}: {name}", seconds * 1000 / count, "ms", note=note))
        if name == PG_ALL:
            for kind, s in sorted(pg.items(), key=lambda kv: -kv[1]):
                if abs(s) > 0.005:
                    report.add(f"{key}_cpu_pg_{kind}", Figure(f"    of which postgres: {kind}", s * 1000 / count, "ms",
                                                              note=f"{s:.2f} CPU-s"))
    if pg is None:
        report.add(f"{key}_cpu_postgres", Figure(f"  CPU per {what}: postgres not measured", float("nan"), "ms",
                                                 note=sampler.pg.why_not))
    # The load generator shares the cores but is not the system under test.
    total = sum(used.values())
    system = total - used.get(LOADGEN, 0.0)
    if system <= 0:
        return
    report.add(f"{key}_cpu_total", Figure(
        f"  CPU per {what}: smsrelay, simulator and PostgreSQL", system * 1000 / count, "ms",
        note=f"{cores} cores = {cores * 1000:,} CPU-ms/s: at most {cores * count / system:,.0f}/s with no load "
             f"generator; {cores * count / total:,.0f}/s sharing the cores with it, as measured"))


def statement_figures(report: Report, key: str, statements: Statements, count: int, what: str) -> None:
    if count <= 0:
        return
    got = statements.read()
    if got is None:
        return
    if statements.available:
        report.add(f"{key}_statements", Figure(
            f"  statements per {what}", got.calls / count, "stmts",
            note=f"{got.calls:,} top-level statements (BEGIN/COMMIT included), {got.exec_ms / count:.2f} ms of "
                 f"execution each {what}, pg_stat_statements",
            extra={"top_by_calls": got.by_calls, "top_by_time": got.by_time}))
        print(f"    top statements by calls ({what}s: {count:,}):", flush=True)
        for q in got.by_calls[:5]:
            print(f"      {q['calls'] / count:6.2f} each {q['total_ms']:9.0f} ms  {q['query']}", flush=True)
        print("    top statements by total time:", flush=True)
        for q in got.by_time[:5]:
            print(f"      {q['total_ms']:9.0f} ms {q['calls']:9,} calls  {q['query']}", flush=True)
    else:
        print(f"    statements per {what}: not measured ({statements.why_not})", flush=True)
    report.add(f"{key}_commits", Figure(
        f"  commits per {what}", got.commits / count, "commits",
        note=f"pg_stat_database xact_commit {got.commits:,}, rollbacks {got.rollbacks:,}"))
