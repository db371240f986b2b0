"""History at scale and row retention under load (issue 20):

    uv run python -m bench.history_scale --rows 10000000 --grow 3

1. Generates `--rows` of "MessageLog" history (bench/generate.py: 30 days, a busy last hour)
   and measures there the runbook's queries, `incident diagnose`, the dashboard pages, a few
   `smsrelay incident` commands (new processes), and single sends and status callbacks at a
   fixed rate (open loop, latency from each request's scheduled start).
2. Grows the history `--grow` times by copying it 30, 60, … days further back (the recent
   window stays the same, only history is added), rebuilds the indexes and measures again:
   the figures at `rows × grow` beside those at `rows`, with table and index sizes.
3. Sets MESSAGE_RETENTION_DAYS=30, so the copies are expired, and runs row retention while
   sends and callbacks keep flowing: the longest stall (the slowest request, counted from when
   it was due) with and without retention running, and the rows retention deleted per second.

The database is dropped at the end unless BENCH_KEEP_DATABASES is set. `--url` reuses a
generated database instead of creating one (its rows are not regenerated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

import psycopg

from smsrelay.settings import Settings
from smsrelay.store.db import psycopg_url

from bench import callbacks, generate, loadgen, queries
from bench.orgs import create_orgs, send_requests
from bench.processes import Cluster, Database, tail
from bench.report import Report
from tests.support.ports import free_port

COLUMNS = ('"orgId", "channel", "direction", "status", "from", "to", "content", "segments", "encoding", '
           '"metadata"')
# The copies are older history: ids and sids keep their uniqueness with a suffix.
GROW_SQL = """
INSERT INTO "MessageLog" ("id", {cols}, "twilioSid", "createdAt", "updatedAt", "sentAt", "finalAt")
SELECT "id" || '_h' || %(k)s, {cols}, "twilioSid" || '_h' || %(k)s,
       "createdAt" - %(k)s * interval '30 days', "updatedAt" - %(k)s * interval '30 days',
       "sentAt" - %(k)s * interval '30 days', "finalAt" - %(k)s * interval '30 days'
FROM "MessageLog" WHERE "id" LIKE 'msg_gen%%' AND "id" NOT LIKE '%%\\_h%%' AND "id" >= %(lo)s AND "id" < %(hi)s
"""


def log(text: str) -> None:
    print(text, flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def grow(url: str, factor: int) -> dict:
    """History × factor, copied back in time in chunks, indexes rebuilt as generate.py does."""
    t0 = time.perf_counter()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        indexes = conn.execute(generate.INDEXES_SQL).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        conn.execute("SET session_replication_role = replica")
        total = conn.execute("""SELECT count(*) FROM "MessageLog" WHERE "id" LIKE 'msg_gen%'""").fetchone()[0]
        for k in range(1, factor):
            for start in range(0, total, 2_000_000):
                lo, hi = f"msg_gen{start + 1:010d}", f"msg_gen{start + 2_000_001:010d}"
                conn.execute(GROW_SQL.format(cols=COLUMNS), {"k": k, "lo": lo, "hi": hi})
                log(f"    copy {k}: rows {start + 1:,}.. ({time.perf_counter() - t0:.0f} s, load {load()})")
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        for _, definition in indexes:
            conn.execute(definition)
        # The copies' hours are the originals' moved by whole days: their rollup is the same rows
        # moved (a recount of the whole table would take longer than the copy).
        conn.execute('CREATE TEMP TABLE rollup0 AS SELECT * FROM "MessageRollup"')
        for k in range(1, factor):
            conn.execute("""
                INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from", "channel",
                                             "count", "lastAt")
                SELECT "hour" - %(k)s * interval '30 days', "direction", "orgId", "status", "errorCode", "from", "channel",
                       "count", "lastAt" - %(k)s * interval '30 days' FROM rollup0
                ON CONFLICT ("hour", "direction", "orgId", "status", "errorCode", "from", "channel")
                DO UPDATE SET "count" = "MessageRollup"."count" + excluded."count" """, {"k": k})
        conn.execute('VACUUM (ANALYZE) "MessageLog", "MessageRollup"')
        rows = conn.execute('SELECT count(*) FROM "MessageLog"').fetchone()[0]
        sizes = generate.relation_sizes(conn)
    log(f"    grown to {rows:,} rows in {time.perf_counter() - t0:.0f} s")
    log("    sizes (MB): " + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in sizes.items()))
    return {"rows": rows, "relations": sizes, "grow_s": time.perf_counter() - t0}


async def traffic(url: str, api_port: int, public: str, orgs: list, *, rate: float, seconds: float,
                  during=None) -> dict:
    """Sends and status callbacks, each open loop at `rate`/s, while `during` (a coroutine
    factory) runs; the longest stall of each is its slowest request from when it was due."""
    sends = send_requests(orgs, int(rate * seconds), seed=int(time.time()))
    seeded = callbacks._seed(url, orgs[0], int(rate * seconds / 2) + 1)
    cbs = callbacks.build_requests(public.rstrip("/"), orgs[0], seeded)
    side = asyncio.create_task(during()) if during else None
    try:
        s, c = await asyncio.gather(
            loadgen.open_loop(api_port, lambda i: sends[i], rate=rate, duration=seconds, ok_statuses=(202,)),
            loadgen.open_loop(api_port, lambda i: cbs[i], rate=rate, duration=seconds))
    finally:
        extra = None
        if side is not None:
            side.cancel()
            extra = await asyncio.gather(side, return_exceptions=True)
    out = {}
    for name, res in (("send", s), ("callback", c)):
        lat = res.latencies
        out[name] = {"n": len(lat), "p50_ms": loadgen.percentile(lat, 50) * 1000,
                     "p99_ms": loadgen.percentile(lat, 99) * 1000, "max_ms": max(lat) * 1000,
                     "errors": res.errors, "statuses": dict(res.statuses)}
    out["side"] = extra[0] if extra and not isinstance(extra[0], BaseException) else None
    return out


def retention_during(url: str, stats: dict, days: int):
    """A coroutine factory: row retention (`days`) batch after batch until cancelled."""
    from smsrelay.service.operations import row_retention
    from smsrelay.service.runtime import Runtime

    async def go() -> None:
        rt = Runtime.create(Settings(database_url=url, message_retention_days=days), url, pool_size=2,
                            name="bench-retention")
        await rt.open()
        stats.update(deleted=0, batches=0, longest_batch_ms=0.0, started=time.perf_counter())
        last = [time.perf_counter()]

        def batch(n: int) -> None:
            now = time.perf_counter()
            stats["deleted"] += n
            stats["batches"] += 1
            stats["longest_batch_ms"] = max(stats["longest_batch_ms"], (now - last[0]) * 1000)
            last[0] = now

        try:
            await row_retention.run_retention(rt, count_first=False, on_batch=batch)
        finally:
            stats["seconds"] = time.perf_counter() - stats["started"]
            await rt.close()

    return go


def label(rows: int) -> str:
    return f"{rows / 1e6:.0f}M rows" if rows >= 1_000_000 else f"{rows / 1e3:.0f}k rows"


def save(path: str, result: dict, report: Report) -> None:
    result["figures"] = {k: {"stage": f.stage, "value": f.value, "p50_ms": f.p50_ms, "p95_ms": f.p95_ms}
                         for k, f in report.figures.items()}
    with open(path, "w") as out:
        json.dump(result, out, indent=1, default=str)


def measure_reads(url: str, sim_url: str, dash_port: int, env: dict, lab: str, report: Report, runs: int,
                  cli_runs: int) -> None:
    queries.measure_runbook(url, lab, runs, report)
    for attempt in (1, 2):
        try:
            queries.measure_diagnose(url, sim_url, lab, max(3, runs // 4), report)
            break
        except Exception as exc:  # noqa: BLE001 - a figure missing, said so, rather than the run lost
            log(f"  incident diagnose in process failed (attempt {attempt}): {type(exc).__name__}: {exc}")
    queries.measure_dashboard(dash_port, url, lab, max(3, runs // 2), report)
    if not cli_runs:
        return
    queries.measure_cli(queries.cli_env(env, url, sim_url), lab, cli_runs, report,
                        [["incident", "status"], ["incident", "diagnose"], ["incident", "report"],
                         ["incident", "status", "--since", "7d"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--grow", type=int, default=3, help="history × this after the first measurement (1: none)")
    parser.add_argument("--url", help="an already generated database (not regenerated, not dropped)")
    parser.add_argument("--rate", type=float, default=50.0, help="sends/s and callbacks/s during the stall runs")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each stall run")
    parser.add_argument("--runs", type=int, default=12, help="runs of each query (0: no reads, only the stall runs)")
    parser.add_argument("--cli-runs", type=int, default=2, help="runs of each `smsrelay incident` command (0: none)")
    parser.add_argument("--json", default="bench/results/history_scale.json")
    args = parser.parse_args(argv)
    db = Database()
    db.start()
    url = args.url or db.create("history")
    home = tempfile.TemporaryDirectory(prefix="smsrelay-bench-home-")
    sim_port, api_port = free_port(), free_port()
    sim_url, public = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    env = dict(os.environ, DATABASE_URL=url, TWILIO_API_BASE=sim_url, PUBLIC_BASE_URL=public, SMSRELAY_HOME=home.name,
               SIM_API_LATENCY="lognormal:100:300", SIM_SPEED_LONG_CODE="100000", SIM_MAX_CONCURRENCY="2000",
               API_RATE_LIMIT_PER_MINUTE="10000000", DASHBOARD_ADMIN_PASSWORD=queries.DASHBOARD_PASSWORD)
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "MESSAGE_RETENTION_DAYS"):
        env.pop(key, None)
    cluster = Cluster(env)
    report = Report()
    result: dict = {"load_start": load(), "machine": "shared machine, 2 cores"}
    try:
        if not args.url:
            log(f"[generate] {args.rows:,} rows (load {load()})")
            made = generate.generate(url, args.rows, log=log)
        else:
            with psycopg.connect(psycopg_url(url)) as conn:
                made = {"rows": conn.execute('SELECT count(*) FROM "MessageLog"').fetchone()[0],
                        "relations": generate.relation_sizes(conn)}
        result["sizes"] = {str(made["rows"]): made["relations"]}
        sim = cluster.start("simulator", ["sim", "--host", "127.0.0.1", "--port", str(sim_port)], port=sim_port)
        api = cluster.start("api", ["api", "--host", "127.0.0.1", "--port", str(api_port)], port=api_port)
        cluster.wait_http(sim, "/_sim/health")
        cluster.wait_http(api, "/healthz")
        cluster.start("worker", ["worker", "--concurrency", "40"])
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            # A reused database: an earlier run's bench orgs give their numbers up to this run's.
            conn.execute("""DELETE FROM "PhoneNumber" WHERE "orgId" IN (SELECT "id" FROM "Org" WHERE "name" LIKE 'Bench org %')""")
        orgs = create_orgs(url, 4)
        sizes = [made["rows"]]
        for step, rows in enumerate(sizes):
            lab = label(rows)
            if args.runs:
                log(f"[reads @ {lab}] load {load()}")
                measure_reads(url, sim_url, api_port, env, lab, report, args.runs, args.cli_runs)
            log(f"[sends and callbacks @ {lab}, {args.rate:g}/s each] load {load()}")
            base = asyncio.run(traffic(url, api_port, public, orgs, rate=args.rate, seconds=args.seconds))
            base["load"] = load()
            result[f"traffic @ {lab}"] = base
            log(json.dumps(base))
            # At the first size the generated 30 days are cut to 8; the grown copies are all past 30.
            days = 8 if step == 0 else 30
            log(f"[retention ({days} days) under load @ {lab}, {args.rate:g}/s sends and callbacks] load {load()}")
            stats: dict = {}
            during = asyncio.run(traffic(url, api_port, public, orgs, rate=args.rate, seconds=args.seconds,
                                         during=retention_during(url, stats, days)))
            during["retention"] = stats | {"days": days,
                                           "rows_per_s": stats.get("deleted", 0) / max(stats.get("seconds", 1), 1e-9)}
            during["load"] = load()
            result[f"traffic during retention @ {lab}"] = during
            log(json.dumps(during))
            for name in ("send", "callback"):
                b, d = base[name]["max_ms"], during[name]["max_ms"]
                log(f"  longest {name} stall @ {lab}: {d:.0f} ms during retention, {b:.0f} ms without "
                    f"({d / b:.2f}×); p99 {during[name]['p99_ms']:.0f} ms vs {base[name]['p99_ms']:.0f} ms")
            r = during["retention"]
            log(f"  retention deleted {r.get('deleted', 0):,} rows in {r.get('seconds', 0):.0f} s "
                f"({r['rows_per_s']:,.0f}/s), longest batch {r.get('longest_batch_ms', 0):.0f} ms; load {load()}")
            save(args.json, result, report)
            if step == 0 and args.grow > 1:
                log(f"[grow × {args.grow}] load {load()}")
                grown = grow(url, args.grow)
                result["sizes"][str(grown["rows"])] = grown["relations"]
                result["grow_s"] = grown["grow_s"]
                sizes.append(grown["rows"])
    except Exception:
        for proc in cluster.procs:
            log(f"--- {proc.name} log tail ---\n{tail(proc.log)}")
        raise
    finally:
        cluster.stop_all()
        if not args.url:
            db.stop()
        home.cleanup()
    print("\n" + report.table())
    result["load_end"] = load()
    save(args.json, result, report)
    print(f"figures saved to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
