"""`uv run python -m bench all [--quick]`: start everything, measure every stage and its
baseline in one run, print the table. See docs/benchmarks.md for the method.

Stages run one after another, never together, so each has the machine to itself; the order
is chosen so that no stage's leftovers load the next (tables are emptied in between).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url

from bench import baselines, callbacks, end_to_end, generate, queries, send_api
from bench.orgs import create_orgs
from bench.processes import LOADGEN, Cluster, Database, MemorySampler, machine, tail
from bench.report import Figure, Report
from tests.support.ports import free_port


@dataclass(frozen=True)
class Sizes:
    baseline_s: float
    api_s: float
    e2e_rate: float
    e2e_s: float
    callback_messages: int
    row_counts: tuple[int, ...]
    query_runs: int
    diagnose_runs: int
    cli_runs: int
    page_runs: int
    workers: int = 2
    worker_concurrency: int = 40


QUICK = Sizes(baseline_s=1.0, api_s=3, e2e_rate=40, e2e_s=4, callback_messages=400, row_counts=(100_000,),
              query_runs=5, diagnose_runs=2, cli_runs=1, page_runs=1)
FULL = Sizes(baseline_s=10, api_s=20, e2e_rate=500, e2e_s=60, callback_messages=15_000,
             row_counts=(1_000_000, 10_000_000), query_runs=20, diagnose_runs=5, cli_runs=3, page_runs=10)


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M rows" if rows >= 1_000_000 else f"{rows // 1000}k rows"


def log(text: str) -> None:
    print(text, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _empty_pipeline(url: str) -> None:
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute('TRUNCATE "MessageLog", "MessageEvent", "SendSlot"')
        conn.execute("TRUNCATE procrastinate_jobs CASCADE")
        # procrastinate_jobs is deliberately not analysed here: statistics of an empty queue make
        # fetch_job's plan collapse once thousands of jobs are queued (docs/benchmarks.md).
        conn.execute('VACUUM ANALYZE "MessageLog"')


def _wait_workers(url: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0] < count:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not register")
            time.sleep(0.2)


STAGES = ("baselines", "api", "e2e", "callbacks", "queries")


def _count(url: str, sql: str) -> int:
    with psycopg.connect(psycopg_url(url)) as conn:
        return conn.execute(sql).fetchone()[0]


def _cpu_figures(report: Report, key: str, before: dict[str, float], after: dict[str, float], count: int,
                 what: str) -> None:
    """Where a stage's CPU went, per unit of work: with two cores the machine has 2,000 CPU-ms a
    second, so the total bounds the stage's rate whatever the code does with its time."""
    if count <= 0:
        return
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    used = {name: v for name, v in used.items() if v > 0.01}
    total = sum(used.values())
    cores = psutil.cpu_count(logical=True) or 1
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        report.add(f"{key}_cpu_{name}", Figure(f"  CPU per {what}: {name}", seconds * 1000 / count, "ms",
                                               note=f"{seconds:.1f} CPU-s over {count:,}"))
    # The load generator shares the cores but is not the system under test.
    system = total - used.get(LOADGEN, 0.0)
    report.add(f"{key}_cpu_total", Figure(
        f"  CPU per {what}: smsrelay, simulator and PostgreSQL", system * 1000 / count, "ms",
        note=f"{cores} cores = {cores * 1000:,} CPU-ms/s: at most {cores * count / system:,.0f}/s with no load "
             f"generator; {cores * count / total:,.0f}/s sharing the cores with it, as measured"))


def run_all(sizes: Sizes, quick: bool, profile: str | None, report: Report, stages: tuple[str, ...] = STAGES,
            api_workers: int = 1) -> None:
    db = Database()
    db.start()
    home = tempfile.TemporaryDirectory(prefix="smsrelay-bench-home-")
    report.meta.update(machine())
    report.meta["database"] = f"{db.kind}, PostgreSQL {db.server_version()}"
    report.meta["mode"] = "quick" if quick else "full"
    log(f"bench: {report.meta['cpu']}, {report.meta['memory']}, {report.meta['database']}, load {_load()}")
    url = db.create("pipeline")
    sim_port, api_port = free_port(), free_port()
    sim_url, public = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    env = dict(os.environ, DATABASE_URL=url, TWILIO_API_BASE=sim_url, PUBLIC_BASE_URL=public,
               SMSRELAY_HOME=home.name, SIMULATOR_HOST="127.0.0.1", SIMULATOR_PORT=str(sim_port),
               SIM_INBOUND_URL=f"{public}/webhooks/twilio/inbound",
               # Twilio as the issue states it: 50–300 ms lognormal, 1 % 20429, 0.5 % 5xx. Sender
               # queues are made fast: carriers' per-number speed is Twilio's limit, not ours.
               SIM_API_LATENCY="lognormal:100:300", SIM_RANDOM_429_RATE="0.01", SIM_RANDOM_5XX_RATE="0.005",
               SIM_SPEED_LONG_CODE="100000", SIM_MAX_CONCURRENCY="2000", SIM_SEED="9",
               # The per-key request limit (default 6,000/min) is policy, not capacity: raised so
               # the stages measure the machine. Its counter's cost is still paid on every request.
               API_RATE_LIMIT_PER_MINUTE="10000000")
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        env.pop(key, None)  # the simulator's default credentials, always
    cluster = Cluster(env, profile=profile)
    sampler = MemorySampler(db.admin_url, db.names)
    try:
        sim = cluster.start("simulator", ["sim", "--host", "127.0.0.1", "--port", str(sim_port)], port=sim_port)
        api = cluster.start("api", ["api", "--host", "127.0.0.1", "--port", str(api_port),
                                    "--workers", str(api_workers)], port=api_port)
        cluster.wait_http(sim, "/_sim/health")
        cluster.wait_http(api, "/healthz")
        sampler.watch("simulator", sim.popen.pid)
        sampler.watch("api", api.popen.pid)
        sampler.start()
        bench_orgs = create_orgs(url, 10)

        if "baselines" in stages:
            log(f"\n[baselines] load {_load()}")
            asyncio.run(baselines.insert_rates(url, sizes.baseline_s, report))
            asyncio.run(baselines.claim_rates(url, sizes.baseline_s, report, jobs=int(3000 * sizes.baseline_s)))
            asyncio.run(baselines.update_rate(url, sizes.baseline_s, report, rows=20000 if not quick else 2000))
            asyncio.run(baselines.simulator_capacity(sim_port, sizes.baseline_s, report))
            asyncio.run(baselines.api_floor(api_port, sizes.baseline_s, report))
            _empty_pipeline(url)

        if "api" in stages:
            log(f"\n[send API] load {_load()}")
            cpu = sampler.cpu_seconds()
            asyncio.run(send_api.run(url, api_port, bench_orgs, sizes.api_s, report))
            _cpu_figures(report, "api", cpu, sampler.cpu_seconds(), _count(url, 'SELECT count(*) FROM "MessageLog"'),
                         "accepted message")
            _empty_pipeline(url)
            log(f"\n[send API, batch] load {_load()}")
            asyncio.run(send_api.run_batch(url, api_port, bench_orgs, sizes.api_s, report))
            _empty_pipeline(url)

        if "e2e" in stages:
            log(f"\n[end to end] load {_load()}")
            SimulatorClient(sim_url, timeout=120).reset()  # it may still be draining a backlog
            workers = [cluster.start(f"worker-{i + 1}", ["worker", "--concurrency", str(sizes.worker_concurrency)])
                       for i in range(sizes.workers)]
            for w in workers:
                sampler.watch(w.name, w.popen.pid)
            _wait_workers(url, sizes.workers)
            cpu = sampler.cpu_seconds()
            asyncio.run(end_to_end.run(url, api_port, sim_port, bench_orgs, rate=sizes.e2e_rate, duration=sizes.e2e_s,
                                       report=report, quick=quick))
            _cpu_figures(report, "e2e", cpu, sampler.cpu_seconds(),
                         _count(url, 'SELECT count(*) FROM "MessageLog" WHERE "twilioSid" IS NOT NULL'),
                         "message handed to Twilio")
            for w in workers:
                cluster.stop(w)
            time.sleep(1.5)  # the simulator's last 'delivered' callbacks
            SimulatorClient(sim_url, timeout=120).reset()  # it may still be draining a backlog
            _empty_pipeline(url)

        if "callbacks" in stages:
            log(f"\n[status callbacks] load {_load()}")
            cpu = sampler.cpu_seconds()
            asyncio.run(callbacks.run(url, api_port, public, bench_orgs[0], sizes.callback_messages, report))
            _cpu_figures(report, "callbacks", cpu, sampler.cpu_seconds(),
                         _count(url, 'SELECT count(*) FROM "MessageEvent"'), "callback")
        cluster.stop(api)

        if "queries" in stages:
            log(f"\n[queries] load {_load()}")
            qurl = db.create("queries")
            # (the sampler shares db.names, so it watches this database's backends too)
            dash_port = free_port()
            dash = cluster.start("api (dashboard, query DB)", ["api", "--host", "127.0.0.1", "--port", str(dash_port)],
                                 port=dash_port, extra_env={"DATABASE_URL": qurl,
                                                            "DASHBOARD_ADMIN_PASSWORD": queries.DASHBOARD_PASSWORD,
                                                            "PUBLIC_BASE_URL": f"http://127.0.0.1:{dash_port}"})
            cluster.wait_http(dash, "/healthz")
            sampler.watch(dash.name, dash.popen.pid)
            plans: dict[str, str] = {}
            for rows in sizes.row_counts:
                lab = label(rows)
                log(f"  generating {lab} (load {_load()})")
                generate.generate(qurl, rows, log=log)
                report.meta[f"load before queries @ {lab}"] = _load()
                plans = queries.measure_runbook(qurl, lab, sizes.query_runs, report)
                queries.measure_diagnose(qurl, sim_url, lab, sizes.diagnose_runs, report)
                envq = queries.cli_env(env, qurl, sim_url)
                commands = queries.CLI_COMMANDS if not quick else [["incident", "status"], ["incident", "diagnose"]]
                queries.measure_cli(envq, lab, sizes.cli_runs, report, commands)
                queries.measure_dashboard(dash_port, qurl, lab, sizes.page_runs, report)
            report.meta["plans"] = "\n\n".join(f"-- {k}\n{v}" for k, v in plans.items())
    except Exception:
        for proc in cluster.procs:
            log(f"--- {proc.name} log tail ---\n{tail(proc.log)}")
        raise
    finally:
        report.memory = sampler.stop()
        cluster.stop_all()
        db.stop()
        home.cleanup()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["faults"]:
        # The crash-safety run (issue 8) has its own options; see bench/faults.py.
        from bench import faults

        return faults.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["all"], help="all: every stage and its baseline "
                        "(`faults` runs the crash-safety fault test instead)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the whole benchmark")
    parser.add_argument("--profile", metavar="PROCESS", help="run this process (api, worker-1, simulator) under "
                                                              "pyinstrument; the profile goes to bench/profiles/")
    parser.add_argument("--json", type=Path, help="also write the figures here (default bench/results/latest.json "
                                                  "for a full run)")
    parser.add_argument("--e2e-rate", type=float, help="offered rate of the end-to-end stage (default 500/s)")
    parser.add_argument("--rows", help="comma-separated \"MessageLog\" sizes of the query stage, e.g. 1000000,10000000")
    parser.add_argument("--api-workers", type=int, default=1, help="processes of the API under test "
                                                                    "(smsrelay api --workers)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"a subset of {','.join(STAGES)}")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rows:
        sizes = dataclasses.replace(sizes, row_counts=tuple(int(r) for r in args.rows.split(",")))
    if args.e2e_rate:
        sizes = dataclasses.replace(sizes, e2e_rate=args.e2e_rate)
    report = Report()
    started = time.perf_counter()
    report.meta["api workers"] = args.api_workers
    run_all(sizes, args.quick, args.profile, report, tuple(args.stages.split(",")), api_workers=args.api_workers)
    report.meta["duration_s"] = f"{time.perf_counter() - started:.0f}"
    report.meta["load at end"] = _load()
    print("\n" + report.table())
    print(f"\nmode {report.meta['mode']}, {report.meta['duration_s']} s, load average at end {report.meta['load at end']}")
    out = args.json or (None if args.quick else Path("bench/results/latest.json"))
    if out:
        report.save(out)
        print(f"figures saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
