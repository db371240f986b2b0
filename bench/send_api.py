"""Send API: single-message POST /v1/messages, closed loop, with no worker running (so the API
and PostgreSQL have the machine to themselves; the jobs just queue). Every 202 means the row
and its claimable state (a job or a "SendQueue" row) committed; the stage checks that afterwards
by counting both."""

from __future__ import annotations

import json
import random

import psycopg

from smsrelay.store.db import psycopg_url

from bench import loadgen
from bench.orgs import BODIES, BenchOrg, recipient, send_requests
from bench.pgstats import BENCH_TAG
from bench.report import Figure, Report

CONCURRENCY = 16


# A message is claimable when its send is queued: a procrastinate job (the design before issue 14)
# or a "SendQueue" row (migration 0012); either counts, so the check holds before and after.
CLAIMABLE = {
    "SendQueue": 'EXISTS (SELECT 1 FROM "SendQueue" q WHERE q."messageId" = m."id")',
    "procrastinate_jobs": "m.\"id\" IN (SELECT j.args->>'message_id' FROM procrastinate_jobs j WHERE j.queue_name = 'sms')",
}
COMMITTED = f"""{BENCH_TAG}
SELECT count(*), count(*) FILTER (WHERE {{claimable}}) FROM "MessageLog" m
WHERE m."direction" = 'outbound' AND m."id" NOT LIKE 'msg\\_upd%' AND m."id" NOT LIKE 'msg\\_bench%'
"""


def _committed(url: str) -> tuple[int, int]:
    with psycopg.connect(psycopg_url(url)) as conn:
        tables = [t for t in CLAIMABLE if conn.execute("SELECT to_regclass(%s)", (f'"{t}"',)).fetchone()[0]]
        claimable = " OR ".join(CLAIMABLE[t] for t in tables) or "false"
        rows, queued = conn.execute(COMMITTED.format(claimable=claimable)).fetchone()
    return rows, queued


async def run(url: str, api_port: int, bench_orgs: list[BenchOrg], duration: float, report: Report) -> None:
    before_rows, before_jobs = _committed(url)
    requests = send_requests(bench_orgs, 20000)
    res = await loadgen.closed_loop(api_port, lambda i: requests[i % len(requests)], concurrency=CONCURRENCY,
                                    duration=duration, ok_statuses=(202,), warmup=50)
    rows, jobs = _committed(url)
    accepted = res.ok
    # warm-up requests are committed too; they are outside the timing but inside the counts.
    stored = (rows - before_rows) - 50
    ok = stored == accepted and (jobs - before_jobs) - 50 == accepted
    note = (f"{CONCURRENCY} connections, {accepted} accepted; rows+claims committed: "
            f"{'all' if ok else f'{stored} rows / {jobs - before_jobs - 50} claimable'}; statuses {res.statuses}")
    p99 = loadgen.percentile(res.latencies, 99) * 1000
    report.add("send_api", Figure(
        "send API, single message", res.rate, "msg/s",
        p50_ms=loadgen.percentile(res.latencies, 50) * 1000, p95_ms=loadgen.percentile(res.latencies, 95) * 1000,
        p99_ms=p99, baseline="base_insert_sq", target="≥ 1,500 msg/s, p99 < 50 ms",
        met=res.rate >= 1500 and p99 < 50 and ok, note=note, extra={"committed_ok": ok}))


BATCH_SIZE = 1000
BATCH_CONCURRENCY = 4


def batch_requests(bench_orgs: list[BenchOrg], count: int, seed: int = 11) -> list[bytes]:
    """`count` distinct POST /v1/messages:batch requests of BATCH_SIZE messages, pre-encoded."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        org = bench_orgs[i % len(bench_orgs)]
        messages = [{"to": recipient(rng), "body": rng.choice(BODIES).format(n=rng.randint(1000, 999999))}
                    for _ in range(BATCH_SIZE)]
        out.append(loadgen.request_bytes("POST", "/v1/messages:batch", body=json.dumps({"messages": messages}).encode(),
                                         headers={"Authorization": f"Bearer {org.api_key}",
                                                  "Content-Type": "application/json"}))
    return out


def _accepted(body: bytes) -> int:
    return json.loads(body)["accepted"]


async def run_batch(url: str, api_port: int, bench_orgs: list[BenchOrg], duration: float, report: Report) -> None:
    """POST /v1/messages:batch with 1,000 messages each, closed loop. The figure is messages/s;
    latencies are per request (per batch). Afterwards every accepted message must have its row
    and its claimable state."""
    before_rows, before_jobs = _committed(url)
    warmup = 2
    requests = batch_requests(bench_orgs, 40)
    res = await loadgen.closed_loop(api_port, lambda i: requests[i % len(requests)], concurrency=BATCH_CONCURRENCY,
                                    duration=duration, ok_statuses=(200,), warmup=warmup, keep_bodies=True)
    accepted = sum(_accepted(b) for b in res.bodies)
    rows, jobs = _committed(url)
    # warm-up batches are committed too; they are outside the timing but inside the counts.
    stored, queued = rows - before_rows - warmup * BATCH_SIZE, jobs - before_jobs - warmup * BATCH_SIZE
    ok = stored == accepted == queued and accepted == res.ok * BATCH_SIZE
    rate = accepted / res.elapsed if res.elapsed else 0.0
    note = (f"{BATCH_CONCURRENCY} connections, {res.ok} batches, {accepted} messages accepted; rows+claims committed: "
            f"{'all' if ok else f'{stored} rows / {queued} claimable'}; statuses {res.statuses}")
    report.add("send_api_batch", Figure(
        f"send API, batch of {BATCH_SIZE:,} (latency per request)", rate, "msg/s",
        p50_ms=loadgen.percentile(res.latencies, 50) * 1000, p95_ms=loadgen.percentile(res.latencies, 95) * 1000,
        p99_ms=loadgen.percentile(res.latencies, 99) * 1000, baseline="base_batch_insert_sq", target="≥ 25,000 msg/s",
        met=rate >= 25000 and ok, note=note, extra={"committed_ok": ok}))
