"""The benchmark's quick mode runs end to end: every stage and baseline prints a number.

A smoke test of the benchmark itself, never of performance: nothing here looks at a timing.
It starts its own database (TEST_DATABASE_URL's server, 127.0.0.1:5432, or an embedded one)
and its own processes on free loopback ports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

STAGES = [
    'baseline: INSERT "MessageLog" row, 1 tx each',
    "baseline: INSERT row + defer job, 1 tx each",
    'baseline: INSERT row + "SendQueue" row, 1 tx each',
    'baseline: INSERT 1,000 rows + "SendQueue" rows, 1 tx',
    "baseline: SKIP LOCKED claim + finish",
    "baseline: procrastinate fetch_job + finish",
    'baseline: "SendQueue" claim 50 SKIP LOCKED + batch delete',
    'baseline: UPDATE "MessageLog" by sid, 1 tx each',
    "baseline: simulator Messages create (no latency)",
    "baseline: API GET /healthz (SELECT 1)",
    "send API, single message",
    "send API, batch of 1,000",
    "end to end accept → sent",
    "queueing delay (accepted → first attempt)",
    "CPU per message handed to Twilio: smsrelay, simulator and PostgreSQL",
    "commits per message handed to Twilio",
    "status callbacks (signed)",
    "CPU per callback: api",
    "runbook 1: status counts (1 h) @ 100k rows",
    "runbook 2: latest failures @ 100k rows",
    "runbook 4: by org @ 100k rows",
    "runbook retry: failed 30008/21408 @ 100k rows",
    "incident diagnose, in process @ 100k rows",
    "smsrelay incident status @ 100k rows",
    "smsrelay incident diagnose @ 100k rows",
    "dashboard /dashboard @ 100k rows",
]

NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"

# Issue 14's targets, one row each in the table printed last; quick sizes judge none of them.
TARGETS = [
    ("end to end, open loop 60 s, 0 lost / 0 duplicated", True),
    ('same, with 10M rows of history in "MessageLog"', False),  # --quick generates no history
    ("CPU per message, end to end, all processes", True),
    ("single send, row committed, p99", True),
    ("batch send", True),
    ("status callbacks, raw event stored and status applied", True),
    ("accept latency while end to end is saturated", True),
]


@pytest.mark.timeout(330)
def test_bench_quick__completes_and_prints_every_stage_with_a_number():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "bench", "all", "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=320)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    table = out[out.index("\nstage "):]
    for stage in STAGES:
        row = next((line for line in table.splitlines() if line.strip().startswith(stage)), None)
        assert row is not None, f"{stage!r} missing from the table:\n{table}"
        assert re.search(rf"\s{NUMBER} \S", row[len(stage) + 2:]), f"no figure in {row!r}"
    assert "peak memory (RSS)" in table
    for process in ("api", "simulator", "worker-1", "bench (load generator)"):
        assert re.search(rf"^\s+{re.escape(process)}\s+{NUMBER} MiB$", table, re.M), process
    targets = out[out.index("\ntargets of issue 14"):]
    for target, measured in TARGETS:
        row = next((line for line in targets.splitlines() if line.startswith(target)), None)
        assert row is not None, f"{target!r} missing from the targets table:\n{targets}"
        if measured:
            assert re.search(rf"\s{NUMBER} (?:ms|msg/s|callbacks/s)", row[len(target):]), f"no figure in {row!r}"
            assert row.rstrip().endswith("quick: not judged"), row
        else:
            assert "not run" in row, row
    # The end-to-end stage checks the simulator's ledger: nothing accepted may be lost.
    assert re.search(r"lost 0, duplicated 0, without sid 0,", out), out[-3000:]
