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

import psycopg

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url

from bench import baselines, callbacks, end_to_end, generate, queries, send_api, targets
from bench.costs import StageCost
from bench.orgs import create_orgs
from bench.pgstats import Statements
from bench.processes import Cluster, Database, MemorySampler, machine, tail
from bench.report import Report, _num
from tests.support.ports import free_port


@dataclass(frozen=True)
class Sizes:
    baseline_s: float
    api_s: float
    # Offered end-to-end rates, one open-loop run each. The targets table reads the queueing
    # delay at `e2e_delay_rate` and the throughput and accept latency at the highest rate.
    e2e_rates: tuple[float, ...]
    e2e_delay_rate: float
    e2e_s: float
    e2e_history_rows: int  # 0: no run against a generated history
    callback_messages: int
    row_counts: tuple[int, ...]
    query_runs: int
    diagnose_runs: int
    cli_runs: int
    page_runs: int
    settle_s: float = 10.5  # how long after a stage its transaction counts are read (pgstats.py)
    workers: int = 2
    worker_concurrency: int = 40


QUICK = Sizes(baseline_s=1.0, api_s=3, e2e_rates=(20, 40), e2e_delay_rate=20, e2e_s=4, e2e_history_rows=0,
              callback_messages=400, row_counts=(100_000,), query_runs=5, diagnose_runs=2, cli_runs=1, page_runs=1,
              settle_s=1.0)
FULL = Sizes(baseline_s=10, api_s=20, e2e_rates=(300, 500), e2e_delay_rate=300, e2e_s=60,
             e2e_history_rows=10_000_000, callback_messages=15_000, row_counts=(1_000_000, 10_000_000),
             query_runs=20, diagnose_runs=5, cli_runs=3, page_runs=10, settle_s=10.5)


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M rows" if rows >= 1_000_000 else f"{rows // 1000}k rows"


def log(text: str) -> None:
    print(text, flush=True)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _empty_pipeline(url: str) -> None:
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        # CASCADE: every table keyed by a message ("SendQueue" and whatever comes after it).
        conn.execute('TRUNCATE "MessageLog", "MessageEvent", "SendSlot" CASCADE')
        conn.execute("TRUNCATE procrastinate_jobs CASCADE")
        # procrastinate_jobs is deliberately not analysed here: statistics of an empty queue make
        # fetch_job's plan collapse once thousands of jobs are queued (docs/benchmarks.md).
        conn.execute('VACUUM ANALYZE "MessageLog"')


# A worker has registered when it shows as a procrastinate worker or, in the "SendQueue" design,
# has written its heartbeat row, whichever the code under test does; since `since`, so the rows
# an earlier run's workers left are not mistaken for this run's.
WORKER_TABLES = {"procrastinate_workers": "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat >= %s",
                 "SendWorker": 'SELECT count(*) FROM "SendWorker" WHERE "heartbeatAt" >= %s'}


def _db_now(url: str):
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        return conn.execute("SELECT now()").fetchone()[0]


def _wait_workers(url: str, count: int, since, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        tables = [t for t in WORKER_TABLES if conn.execute("SELECT to_regclass(%s)", (f'"{t}"',)).fetchone()[0]]
        while max((conn.execute(WORKER_TABLES[t], (since,)).fetchone()[0] for t in tables), default=count) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not register")
            time.sleep(0.2)


STAGES = ("baselines", "api", "e2e", "e2e-history", "callbacks", "queries")


def _count(url: str, sql: str) -> int:
    with psycopg.connect(psycopg_url(url)) as conn:
        return conn.execute(sql).fetchone()[0]


def _end_to_end(url: str, sim_url: str, api_port: int, sim_port: int, bench_orgs: list, cluster: Cluster,
                sampler: MemorySampler, cost: StageCost, sizes: Sizes, report: Report,
                stages: tuple[str, ...]) -> tuple[str | None, str | None, str | None]:
    """One open-loop run per offered rate, then (with a history size) one at the highest rate
    against a generated "MessageLog" history. Returns the keys of the delay, saturation and
    history runs for the targets table."""
    runs: list[tuple[str, float, int]] = [(f"e2e@{rate:g}", rate, 0) for rate in sizes.e2e_rates if "e2e" in stages]
    if sizes.e2e_history_rows and "e2e-history" in stages:
        runs.append((f"e2e_history@{max(sizes.e2e_rates):g}", max(sizes.e2e_rates), sizes.e2e_history_rows))
    for key, rate, history in runs:
        if history:
            log(f"\n[end to end over a history] generating {label(history)} (load {_load()})")
            generate.generate(url, history, log=log)
        log(f"\n[end to end, {rate:g}/s{' over ' + label(history) if history else ''}] load {_load()}")
        SimulatorClient(sim_url, timeout=120).reset()  # it may still be draining a backlog
        # Fresh workers for each run, stopped before the tables are emptied: a run that gave up
        # on its backlog leaves sends in flight, which must not meet the next run's rows.
        since = _db_now(url)
        workers = [cluster.start(f"worker-{i + 1}", ["worker", "--concurrency", str(sizes.worker_concurrency)])
                   for i in range(sizes.workers)]
        for w in workers:
            sampler.watch(w.name, w.popen.pid)
        _wait_workers(url, sizes.workers, since)
        cost.start()
        outcome = asyncio.run(end_to_end.run(
            url, api_port, sim_port, bench_orgs, rate=rate, duration=sizes.e2e_s, report=report, key=key,
            title="end to end accept → sent" + (f" over {label(history)} of history" if history else ""),
            on_drained=cost.stop))
        if history:
            report.figures[key].extra["history_rows"] = history
        cost.figures(report, key, outcome["handed_to_twilio"], "message handed to Twilio")
        for w in workers:
            cluster.stop(w)
        time.sleep(1.5)  # the simulator's last 'delivered' callbacks
        SimulatorClient(sim_url, timeout=120).reset()
        _empty_pipeline(url)
    report.extra["e2e_by_rate"] = [_cost_row(report, key) for key, _, _ in runs]
    delay = next((k for k, r, h in runs if not h and r == sizes.e2e_delay_rate),
                 next((k for k, r, h in runs if not h and r < max(sizes.e2e_rates)), None))
    saturation = next((k for k, r, h in runs if not h and r == max(sizes.e2e_rates)), None)
    history_key = next((k for k, _, h in runs if h), None)
    return delay, saturation, history_key


def _cost_row(report: Report, key: str) -> dict:
    """One line of the cost-by-offered-rate table."""
    f = report.figures
    e2e = f[key]

    def get(k: str) -> float | None:
        return f[k].value if k in f else None

    workers = sum(v.value for k, v in f.items() if k.startswith(f"{key}_cpu_worker-"))
    return {"run": e2e.stage, "offered": e2e.extra["rate"], "history_rows": e2e.extra.get("history_rows", 0),
            "sent_per_s": e2e.value, "queue_p99_ms": e2e.extra["queue_p99_ms"],
            "accept_p99_ms": e2e.extra["accept_p99_ms"], "lost": e2e.extra["lost"],
            "duplicated": e2e.extra["duplicated"], "cpu_total_ms": get(f"{key}_cpu_total"),
            "cpu_postgres_ms": get(f"{key}_cpu_postgres"), "cpu_api_ms": get(f"{key}_cpu_api"),
            "cpu_workers_ms": workers, "cpu_simulator_ms": get(f"{key}_cpu_simulator"),
            "statements": get(f"{key}_statements"), "commits": get(f"{key}_commits")}


def cost_table(rows: list[dict]) -> str:
    head = ["offered", "history", "sent/s", "queue p99 ms", "accept p99 ms", "lost/dup", "CPU ms/msg", "PostgreSQL",
            "api", "workers", "simulator", "stmts/msg", "commits/msg"]
    body = [[f"{r['offered']:g}/s", label(r["history_rows"]) if r["history_rows"] else "-", _num(r["sent_per_s"]),
             _num(r["queue_p99_ms"]), _num(r["accept_p99_ms"]), f"{r['lost']}/{r['duplicated']}",
             *(_num(r[k], 2) for k in ("cpu_total_ms", "cpu_postgres_ms", "cpu_api_ms", "cpu_workers_ms",
                                       "cpu_simulator_ms", "statements", "commits"))] for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    line = lambda c: "  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *(line(b) for b in body)])


def run_all(sizes: Sizes, quick: bool, profile: str | None, report: Report, stages: tuple[str, ...] = STAGES,
            api_workers: int = 1) -> dict[str, str | None]:
    points: dict[str, str | None] = {"delay": None, "saturation": None, "history": None}
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

        statements = Statements(url)
        if not statements.available:
            log(f"bench: {statements.why_not}; statements per unit are not measured, commits are")
        report.meta["pg_stat_statements"] = "available" if statements.available else statements.why_not
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            # Whether autovacuum's CPU can appear at all, and what the server counts with.
            for setting in ("autovacuum", "shared_buffers", "synchronous_commit", "max_connections"):
                report.meta[setting] = conn.execute(f"SHOW {setting}").fetchone()[0]
        log("bench: server settings " + ", ".join(f"{k} {report.meta[k]}" for k in
                                                  ("autovacuum", "shared_buffers", "synchronous_commit", "max_connections")))
        report.meta["postgres cpu"] = ("every process of the server (other databases on it count too)"
                                       if sampler.pg.local else f"not measured: {sampler.pg.why_not}")
        cost = StageCost(sampler, statements, sizes.settle_s)

        if "baselines" in stages:
            log(f"\n[baselines] load {_load()}")
            baselines.cpu_probe = sampler.cpu_seconds
            asyncio.run(baselines.insert_rates(url, sizes.baseline_s, report))
            asyncio.run(baselines.queue_insert_rates(url, sizes.baseline_s, report))
            asyncio.run(baselines.claim_rates(url, sizes.baseline_s, report, jobs=int(3000 * sizes.baseline_s)))
            asyncio.run(baselines.queue_claim_rate(url, sizes.baseline_s, report, rows=int(30000 * sizes.baseline_s)))
            asyncio.run(baselines.update_rate(url, sizes.baseline_s, report, rows=20000 if not quick else 2000))
            asyncio.run(baselines.simulator_capacity(sim_port, sizes.baseline_s, report))
            asyncio.run(baselines.api_floor(api_port, sizes.baseline_s, report))
            baselines.cpu_probe = None
            _empty_pipeline(url)

        if "api" in stages:
            log(f"\n[send API] load {_load()}")
            cost.start()
            asyncio.run(send_api.run(url, api_port, bench_orgs, sizes.api_s, report))
            cost.figures(report, "api", _count(url, 'SELECT count(*) FROM "MessageLog"'), "accepted message")
            _empty_pipeline(url)
            log(f"\n[send API, batch] load {_load()}")
            cost.start()
            asyncio.run(send_api.run_batch(url, api_port, bench_orgs, sizes.api_s, report))
            cost.figures(report, "batch", _count(url, 'SELECT count(*) FROM "MessageLog"'), "accepted message")
            _empty_pipeline(url)

        if "e2e" in stages or ("e2e-history" in stages and sizes.e2e_history_rows):
            points["delay"], points["saturation"], points["history"] = _end_to_end(
                url, sim_url, api_port, sim_port, bench_orgs, cluster, sampler, cost, sizes, report, stages)

        if "callbacks" in stages:
            log(f"\n[status callbacks] load {_load()}")
            asyncio.run(callbacks.run(url, api_port, public, bench_orgs[0], sizes.callback_messages, report,
                                      on_start=cost.start))
            cost.figures(report, "callbacks", _count(url, 'SELECT count(*) FROM "MessageEvent"'), "callback")
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
                made = generate.generate(qurl, rows, log=log)
                report.meta[f"sizes MB @ {lab}"] = ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in made["relations"].items())
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
    return points


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
    parser.add_argument("--e2e-rates", help="comma-separated offered rates of the end-to-end stage, one 60 s run "
                                            "each (default 300,500: the queueing-delay point and saturation)")
    parser.add_argument("--e2e-seconds", type=float, help="length of each end-to-end run (default 60; --quick: 4)")
    parser.add_argument("--e2e-rate", type=float, help="a single offered rate (same as --e2e-rates N)")
    parser.add_argument("--e2e-delay-rate", type=float, help="the rate whose queueing delay the targets table "
                                                             "judges (default 300)")
    parser.add_argument("--e2e-history-rows", type=int, help="generated \"MessageLog\" history for the e2e-history "
                                                             "stage (default 10000000; 0 skips it; --quick: 0)")
    parser.add_argument("--rows", help="comma-separated \"MessageLog\" sizes of the query stage, e.g. 1000000,10000000")
    parser.add_argument("--api-workers", type=int, default=1, help="processes of the API under test "
                                                                    "(smsrelay api --workers)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"a subset of {','.join(STAGES)}")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.rows:
        sizes = dataclasses.replace(sizes, row_counts=tuple(int(r) for r in args.rows.split(",")))
    rates = args.e2e_rates or (str(args.e2e_rate) if args.e2e_rate else None)
    if rates:
        sizes = dataclasses.replace(sizes, e2e_rates=tuple(float(r) for r in rates.split(",")))
    if args.e2e_seconds:
        sizes = dataclasses.replace(sizes, e2e_s=args.e2e_seconds)
    if args.e2e_delay_rate:
        sizes = dataclasses.replace(sizes, e2e_delay_rate=args.e2e_delay_rate)
    if args.e2e_history_rows is not None:
        sizes = dataclasses.replace(sizes, e2e_history_rows=args.e2e_history_rows)
    stages = tuple(args.stages.split(","))
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; choose from {','.join(STAGES)}")
    report = Report()
    started = time.perf_counter()
    report.meta["api workers"] = args.api_workers
    points = run_all(sizes, args.quick, args.profile, report, stages, api_workers=args.api_workers)
    report.meta["duration_s"] = f"{time.perf_counter() - started:.0f}"
    report.meta["load at end"] = _load()
    print("\n" + report.table())
    if report.extra.get("e2e_by_rate"):
        print("\ncost per message handed to Twilio, by offered rate (CPU in ms per message)\n"
              + cost_table(report.extra["e2e_by_rate"]))
    rows = targets.build(report, targets.E2EPoints(**points), args.quick)
    report.extra["targets"] = targets.as_json(rows)
    report.extra["targets_markdown"] = targets.markdown(rows)
    print("\ntargets of issue 14" + (" (quick sizes: nothing judged)" if args.quick else "") + "\n"
          + targets.table(rows))
    print(f"\nmode {report.meta['mode']}, {report.meta['duration_s']} s, load average at end {report.meta['load at end']}")
    out = args.json or (None if args.quick else Path("bench/results/latest.json"))
    if out:
        report.save(out)
        print(f"figures saved to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
