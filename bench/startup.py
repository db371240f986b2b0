"""Start-up as an operator at 3 a.m. sees it (issue 19): wall clock of `smsrelay --help` and of
`smsrelay incident diagnose` at 10M rows of history, each a new process (Python start-up,
imports, settings, the database, Twilio's checks against the simulator), against in-run
baselines: `python -c pass` (the interpreter) and `python -c "import smsrelay.cli"` (the
command tree). Prints median, min and max of N runs and the ratio of each median to the
interpreter's; never a pass/fail test.

    uv run python -m bench.startup                    # fresh database, 10M generated rows
    uv run python -m bench.startup --database-url URL # an existing generated history
    uv run python -m bench.startup --rows 100000 --runs 3
    uv run python -m bench.startup --database-url URL --before-src /tmp/base/src   # + the same commands
                                                  # from another checkout's src (`git archive REV src`), in this run

The machine's other load counts: the figures are those of the moment, which the run prints
(load average) beside them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from bench.generate import generate
from bench.processes import LOGS, Cluster, Database
from tests.support.ports import free_port

TARGETS = {"smsrelay --help": 0.5, "smsrelay incident diagnose": 1.0, "smsrelay incident diagnose --json": 1.0}


_CPU: list[float] = []  # user + system CPU of each child, in run order: what load cannot inflate much


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    if "Warning" in done.stderr:
        raise SystemExit(f"{' '.join(cmd)} printed a warning: {done.stderr.strip()[-500:]}")
    return elapsed


def measure(database_url: str, sim_url: str, runs: int, before_src: str | None = None) -> list[dict]:
    py = sys.executable
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIM_", "SMSRELAY_"))}
    env.update({"DATABASE_URL": database_url, "TWILIO_API_BASE": sim_url, "COLUMNS": "120"})
    # As installed (pip and `uv sync --compile-bytecode` write bytecode; Python writes it on first
    # import otherwise): this machine's environment sets PYTHONDONTWRITEBYTECODE, under which every
    # process compiles ~450 modules from source (about 2-4 s here). The bytecode goes to a
    # temporary cache, never into the installation; the "from source" row shows that cost.
    source_env = dict(env, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="smsrelay-bench-pycache-")
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import smsrelay.cli'": [py, "-c", "import smsrelay.cli"],
        "smsrelay --help": [py, "-m", "smsrelay", "--help"],
        "smsrelay incident diagnose": [py, "-m", "smsrelay", "incident", "diagnose"],
        "smsrelay incident diagnose --json": [py, "-m", "smsrelay", "incident", "diagnose", "--json"],
    }
    for cmd in commands.values():  # warm the page cache and the database's buffers once
        _wall(cmd, env)
    results = []
    for name, cmd in commands.items():
        times = [_wall(cmd, env) for _ in range(runs)]
        results.append({"name": name, "median": statistics.median(times), "min": min(times), "max": max(times),
                        "cpu": statistics.median(_CPU[-runs:])})
    if before_src:  # the in-run baseline of a change: the same commands from the other checkout's src
        before_env = dict(env, PYTHONPATH=before_src)
        for name in ("smsrelay --help", "smsrelay incident diagnose", "smsrelay incident diagnose --json"):
            _wall(commands[name], before_env)
            times = [_wall(commands[name], before_env) for _ in range(runs)]
            results.append({"name": f"  before: {name.removeprefix('smsrelay ')}", "median": statistics.median(times),
                            "min": min(times), "max": max(times), "cpu": statistics.median(_CPU[-runs:])})
    times = [_wall(commands["smsrelay incident diagnose"], source_env) for _ in range(runs)]
    results.append({"name": "  same, compiled from source", "median": statistics.median(times), "min": min(times),
                    "max": max(times), "cpu": statistics.median(_CPU[-runs:])})
    return results


def report(results: list[dict], rows: int) -> None:
    base = results[0]["median"]
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nStart-up, {rows:,} rows in \"MessageLog\", load average {load} ({os.cpu_count()} cores)")
    print(f"{'command':<36} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>6} {'× python':>9} {'target':>8}  met")
    for r in results:
        target = TARGETS.get(r["name"])
        met = "" if target is None else ("yes" if r["median"] < target else "no")
        print(f"{r['name']:<36} {r['median']:>9.3f} {r['min']:>7.3f} {r['max']:>7.3f} {r['cpu']:>6.2f} {r['median'] / base:>9.1f} "
              f"{'' if target is None else f'< {target:g} s':>8}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an existing database with a generated history")
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to generate (fresh database only)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before-src", help="another checkout's src directory, measured in the same run")
    args = parser.parse_args()
    db = Database()
    cluster = Cluster(env={k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIM_"))})
    try:
        url = args.database_url
        rows = args.rows
        if url is None:
            db.start()
            url = db.create("startup")
            generate(url, rows)
        else:
            import psycopg

            from smsrelay.store.db import psycopg_url

            with psycopg.connect(psycopg_url(url)) as conn:
                rows = conn.execute('SELECT count(*) FROM "MessageLog"').fetchone()[0]
        port = free_port()
        sim = cluster.start("simulator", ["sim", "--port", str(port)], port=port)
        cluster.wait_http(sim, "/_sim/health")
        report(measure(url, f"http://127.0.0.1:{port}", args.runs, args.before_src), rows)
    finally:
        cluster.stop_all()
        db.stop()
        print(f"logs in {LOGS}")


if __name__ == "__main__":
    main()
