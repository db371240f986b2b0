"""The read side on a large "MessageLog": the runbook's SQL verbatim, `incident diagnose` in
process, every `smsrelay incident …` command as an operator runs it (a fresh process, wall
clock), and the dashboard's pages through a real API process and a logged-in session."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from smsrelay.settings import Settings
from smsrelay.store.db import psycopg_url

from bench.loadgen import percentile
from bench.report import Figure, Report

RUNBOOK_PATHS = (Path("docs/runbook-original.md"), Path("/work/shared/runbook/messaging-failures-twilio.md"))
RUNBOOK_NAMES = {1: "runbook 1: status counts (1 h)", 2: "runbook 2: latest failures", 3: "runbook 4: by org",
                 4: "runbook retry: failed 30008/21408"}
CLI_COMMANDS = [
    ["incident", "status"], ["incident", "failures"], ["incident", "orgs"], ["incident", "errors"],
    ["incident", "diagnose"], ["incident", "diagnose", "--json"], ["incident", "report"],
    ["incident", "status", "--since", "7d"], ["incident", "orgs", "--since", "7d"],
    ["retry", "--dry-run"],
    # Mitigations in pairs, so each leaves the history as it found it; and the Twilio checks.
    ["org", "throttle", "org_gen01", "--per-minute", "600", "--reason", "bench"],
    ["org", "throttle", "org_gen01", "--off", "--reason", "bench"],
    ["org", "disable", "org_gen01", "--reason", "bench"], ["org", "enable", "org_gen01", "--reason", "bench"],
    ["sms", "pause", "--reason", "bench"], ["sms", "resume", "--reason", "bench"],
    ["twilio", "balance"], ["twilio", "account"], ["twilio", "numbers"],
]
DASHBOARD_PASSWORD = "bench-dashboard-password"


def runbook_queries() -> list[str]:
    """The runbook's SELECTs, verbatim, in order (its UPDATEs are mitigations, not reads)."""
    text = next(p for p in RUNBOOK_PATHS if p.exists()).read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    return [b.strip().rstrip(";") for b in blocks if b.lstrip().upper().startswith(("SELECT", "--"))
            and "SELECT" in b.upper() and "UPDATE" not in b.upper()]


def _ms(values: list[float], p: float) -> float:
    return percentile(values, p) * 1000


def measure_runbook(url: str, label: str, runs: int, report: Report) -> dict[str, str]:
    plans: dict[str, str] = {}
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        for i, query in enumerate(runbook_queries(), start=1):
            conn.execute(query).fetchall()  # warm: the first run reads from disk
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                conn.execute(query).fetchall()
                times.append(time.perf_counter() - t0)
            p95 = _ms(times, 95)
            name = RUNBOOK_NAMES.get(i, f"runbook query {i}")
            report.add(f"q_{label}_{i}", Figure(f"{name} @ {label}", _ms(times, 50), "ms (p50)",
                                                p50_ms=_ms(times, 50), p95_ms=p95, target="p95 < 100 ms",
                                                met=p95 < 100, note=f"{runs} runs"))
            plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query).fetchall()
            plans[name] = "\n".join(r[0] for r in plan)
    return plans


async def _diagnose_times(url: str, sim_url: str, runs: int) -> list[float]:
    from smsrelay.service.operations import incident
    from smsrelay.service.runtime import Runtime

    rt = Runtime.create(Settings(database_url=url, twilio_api_base=sim_url), url, pool_size=4, name="bench-diagnose")
    await rt.open()
    try:
        await incident.diagnose(rt, "1h")  # warm the pool and the SDK client
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await incident.diagnose(rt, "1h")
            times.append(time.perf_counter() - t0)
        return times
    finally:
        await rt.close()


def measure_diagnose(url: str, sim_url: str, label: str, runs: int, report: Report) -> None:
    times = asyncio.run(_diagnose_times(url, sim_url, runs))
    p95 = _ms(times, 95)
    report.add(f"diag_{label}", Figure(f"incident diagnose, in process @ {label}", _ms(times, 50), "ms (p50)",
                                       p50_ms=_ms(times, 50), p95_ms=p95, target="< 1 s", met=max(times) < 1.0,
                                       note=f"{runs} runs, live Twilio checks against the simulator"))


def measure_cli(env: dict[str, str], label: str, runs: int, report: Report,
                commands: list[list[str]] = CLI_COMMANDS) -> None:
    """Each command as a new process, wall clock, Python start-up and imports included."""
    slowest = 0.0
    for args in commands:
        times, code = [], 0
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "smsrelay", *args], env=env, capture_output=True,
                                  timeout=120, stdin=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
            code = code or proc.returncode
        slowest = max(slowest, max(times))
        report.add(f"cli_{label}_{'_'.join(args)}", Figure(
            f"smsrelay {' '.join(args)} @ {label}", statistics.median(times) * 1000, "ms (median)",
            p50_ms=statistics.median(times) * 1000, p95_ms=max(times) * 1000, target="< 2 s",
            met=max(times) < 2.0 and code == 0,
            note=f"{runs} runs, wall clock of a new process; exit {code}"
                 + (f": {proc.stderr.decode(errors='replace').strip()[-200:]}" if code else "")))


def _login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, trust_env=False, follow_redirects=False)
    form = client.get("/dashboard/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError(f"no login form at /dashboard/login ({form.status_code})")
    resp = client.post("/dashboard/login", data={"login_token": token.group(1), "username": "admin",
                                                  "password": DASHBOARD_PASSWORD, "next": "/dashboard"})
    if resp.status_code != 303:
        raise RuntimeError(f"dashboard login answered {resp.status_code}")
    return client


def dashboard_pages(url: str) -> list[str]:
    with psycopg.connect(psycopg_url(url)) as conn:
        failed = conn.execute("""SELECT "id", "to" FROM "MessageLog" WHERE "direction" = 'outbound'
                                 AND "status" = 'failed' ORDER BY "createdAt" DESC LIMIT 1""").fetchone()
    pages = ["/dashboard", "/dashboard?window=24h", "/dashboard?window=7d", "/dashboard/fragments/overview",
             "/dashboard/orgs", "/dashboard/orgs?window=24h", "/dashboard/orgs/org_gen00", "/dashboard/errors",
             "/dashboard/errors?window=24h", "/dashboard/messages?org=org_gen03&status=failed",
             "/dashboard/diagnosis"]
    if failed:
        pages += [f"/dashboard/messages/{failed[0]}", f"/dashboard/messages?to={failed[1].replace('+', '%2B')}"]
    return pages


def measure_dashboard(api_port: int, url: str, label: str, runs: int, report: Report) -> None:
    client = _login(f"http://127.0.0.1:{api_port}")
    try:
        for path in dashboard_pages(url):
            client.get(path)  # warm
            times, status = [], 200
            for _ in range(runs):
                t0 = time.perf_counter()
                resp = client.get(path)
                times.append(time.perf_counter() - t0)
                status = resp.status_code if resp.status_code != 200 else status
            p95 = _ms(times, 95)
            report.add(f"dash_{label}_{path}", Figure(
                f"dashboard {path} @ {label}", _ms(times, 50), "ms (p50)", p50_ms=_ms(times, 50), p95_ms=p95,
                target="< 300 ms", met=p95 < 300 and status == 200, note=f"{runs} runs, HTTP {status}"))
    finally:
        client.close()


def cli_env(base_env: dict[str, str], url: str, sim_url: str) -> dict[str, str]:
    env = dict(base_env, DATABASE_URL=url, TWILIO_API_BASE=sim_url)
    env.pop("SMSRELAY_HOME", None)
    return {k: v for k, v in env.items() if v is not None} | {"PYTHONUNBUFFERED": "1"} | dict(
        (k, os.environ[k]) for k in ("PATH", "HOME") if k in os.environ)
