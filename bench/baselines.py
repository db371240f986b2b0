"""The physical limits each stage is measured against, on this machine, in the same run.

Each baseline does the irreducible part of its stage and nothing else, with the same
concurrency the stage gets: the INSERT (and job) the send API must commit, the SKIP LOCKED
claim a worker must make, the UPDATE by sid a status callback must make, the simulator's
request rate with no injected latency, and the API's cheapest request. A stage's ratio to its
baseline says how much of the machine's capacity for that work the service turns into results.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
import uuid

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url
from smsrelay.store.sql import QUERIES

from bench import loadgen
from bench.processes import cpu_used
from bench.report import Figure, Report

CONCURRENCY = 16

# Set by the runner: a function returning a processes.CpuReading. Each timed loop reads it before
# and after, so every baseline also says what its operation costs in CPU (the floor of the CPU per
# message in the targets table is built from these).
cpu_probe = None
_window: dict = {}


def _cpu_start() -> None:
    _window["before"] = cpu_probe() if cpu_probe else None


def _cpu_end() -> dict[str, float]:
    if not cpu_probe or _window.get("before") is None:
        return {}
    procs, pg = cpu_used(_window.pop("before"), cpu_probe())
    used = dict(procs)
    if pg is not None:
        used["postgres"] = sum(pg.values())
    _window["used"] = used
    return used


async def _db_loop(url: str, duration: float, step, *, concurrency: int = CONCURRENCY) -> tuple[int, list[float], float]:
    """Run step(conn, i) on `concurrency` connections for `duration` s; returns (count, latencies, elapsed)."""
    conns = [await AsyncConnection.connect(psycopg_url(url), autocommit=False) for _ in range(concurrency)]
    latencies: list[float] = []
    counter = itertools.count()
    _cpu_start()
    start = time.perf_counter()
    deadline = start + duration

    async def run(conn: AsyncConnection) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await step(conn, next(counter))
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(run(c) for c in conns))
    elapsed = time.perf_counter() - start
    _cpu_end()
    for c in conns:
        await c.close()
    return len(latencies), latencies, elapsed


def _ms(latencies: list[float], p: float) -> float:
    return loadgen.percentile(latencies, p) * 1000


def _fig(stage: str, count: int, latencies: list[float], elapsed: float, unit: str, note: str = "") -> Figure:
    return Figure(stage, count / elapsed, unit, p50_ms=_ms(latencies, 50), p99_ms=_ms(latencies, 99), note=note,
                  extra={"count": count, "cpu": _window.pop("used", {})})


async def _org_and_sender(url: str) -> tuple[str, str]:
    async with await AsyncConnection.connect(psycopg_url(url)) as conn:
        row = await (await conn.execute('SELECT "orgId", "number" FROM "PhoneNumber" LIMIT 1')).fetchone()
    return row[0], row[1]


# The send path's row, as a plain INSERT (the service stores it together with its job in one
# statement, insert_outbound_with_jobs; the baseline is the irreducible work, statement by statement).
ROW_INSERT = """
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                          "segments", "encoding", "metadata")
VALUES (%(id)s, %(org_id)s, 'sms', 'outbound', 'queued', %(from_)s, %(to)s, %(content)s,
        %(segments)s, %(encoding)s, %(metadata)s)
"""


async def insert_rates(url: str, duration: float, report: Report) -> None:
    org_id, sender = await _org_and_sender(url)
    insert, enqueue = ROW_INSERT, QUERIES["enqueue_job"]

    def row(i: int) -> dict:
        return {"id": f"msg_bench{uuid.uuid4().hex}", "org_id": org_id, "from_": sender,
                "to": f"+1415{2000000 + i % 7000000:07d}", "content": "Your table for 2 is ready.",
                "segments": 1, "encoding": "GSM-7", "metadata": Jsonb({"attempts": 0, "country": "US"})}

    async def only_row(conn: AsyncConnection, i: int) -> None:
        await conn.execute(insert, row(i))
        await conn.commit()

    async def row_and_job(conn: AsyncConnection, i: int) -> None:
        params = row(i)
        await conn.execute(insert, params)
        # A queue no worker listens to: the job must exist, not run.
        await conn.execute(enqueue, {"queue": "bench", "task": "bench.noop", "args": Jsonb({"message_id": params["id"]}),
                                     "scheduled_at": None, "lock": f"send:{params['id']}"})
        await conn.commit()

    n, lat, el = await _db_loop(url, duration, only_row)
    report.add("base_insert", _fig("baseline: INSERT \"MessageLog\" row, 1 tx each", n, lat, el, "rows/s",
                                   f"{CONCURRENCY} connections"))
    n, lat, el = await _db_loop(url, duration, row_and_job)
    report.add("base_insert_job", _fig("baseline: INSERT row + defer job, 1 tx each", n, lat, el, "rows/s",
                                       f"{CONCURRENCY} connections"))


SQ_INSERT = 'INSERT INTO "SendQueue" ("messageId", "orgId") VALUES (%(id)s, %(org_id)s)'

BATCH_INSERT = """
WITH rows AS (
    INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                              "segments", "encoding", "metadata")
    SELECT m.id, %(org_id)s, 'sms', 'outbound', 'queued', %(from_)s, m.recipient, %(content)s, 1, 'GSM-7',
           '{"attempts": 0, "country": "US"}'::jsonb
    FROM unnest(%(ids)s::text[], %(tos)s::text[]) AS m(id, recipient)
    RETURNING "id", "orgId"
)
INSERT INTO "SendQueue" ("messageId", "orgId") SELECT "id", "orgId" FROM rows
"""


async def queue_insert_rates(url: str, duration: float, report: Report, batch: int = 1000,
                             batch_concurrency: int = 4) -> None:
    """The accept floor of a "SendQueue" design (migration 0012): the row and its queue row in
    one transaction, one message at a time (16 connections) and 1,000 at a time (one statement,
    4 connections, as the batch stage)."""
    org_id, sender = await _org_and_sender(url)

    async def single(conn: AsyncConnection, i: int) -> None:
        mid = f"msg_bench{uuid.uuid4().hex}"
        await conn.execute(ROW_INSERT, {"id": mid, "org_id": org_id, "from_": sender,
                                        "to": f"+1415{2000000 + i % 7000000:07d}", "content": "Your table for 2 is ready.",
                                        "segments": 1, "encoding": "GSM-7",
                                        "metadata": Jsonb({"attempts": 0, "country": "US"})})
        await conn.execute(SQ_INSERT, {"id": mid, "org_id": org_id})
        await conn.commit()

    async def many(conn: AsyncConnection, i: int) -> None:
        tag = uuid.uuid4().hex
        await conn.execute(BATCH_INSERT, {"org_id": org_id, "from_": sender, "content": "Your table for 2 is ready.",
                                          "ids": [f"msg_bench{tag}{k}" for k in range(batch)],
                                          "tos": [f"+1415{2000000 + (i * batch + k) % 7000000:07d}" for k in range(batch)]})
        await conn.commit()

    n, lat, el = await _db_loop(url, duration, single)
    report.add("base_insert_sq", _fig('baseline: INSERT row + "SendQueue" row, 1 tx each', n, lat, el, "rows/s",
                                      f"{CONCURRENCY} connections"))
    n, lat, el = await _db_loop(url, duration, many, concurrency=batch_concurrency)
    fig = _fig(f'baseline: INSERT {batch:,} rows + "SendQueue" rows, 1 tx', n * batch, lat, el, "rows/s",
               f"{batch_concurrency} connections, one INSERT … SELECT FROM unnest each")
    report.add("base_batch_insert_sq", fig)


SQ_CLAIM = """
WITH due AS (
    SELECT "messageId" FROM "SendQueue" WHERE "dueAt" <= now() ORDER BY "dueAt" LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE "SendQueue" q SET "leaseOwner" = %(owner)s, "dueAt" = now() + interval '60 seconds', "claims" = q."claims" + 1
FROM due WHERE q."messageId" = due."messageId"
RETURNING q."messageId"
"""
SQ_DELETE = 'DELETE FROM "SendQueue" WHERE "messageId" = ANY(%(ids)s::text[]) AND "leaseOwner" = %(owner)s'


async def queue_claim_rate(url: str, duration: float, report: Report, rows: int, batch: int = 50,
                           concurrency: int = 4) -> None:
    """The worker floor of a "SendQueue" design: claim up to 50 due rows FOR UPDATE SKIP LOCKED
    under a lease (one statement, committed), then delete them (one statement, committed)."""
    org_id, sender = await _org_and_sender(url)
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute(BATCH_INSERT.replace("FROM unnest(%(ids)s::text[], %(tos)s::text[]) AS m(id, recipient)",
                                          "FROM (SELECT 'msg_sqb' || g AS id, '+1415' || (2000000 + g)::text AS recipient "
                                          "FROM generate_series(1, %(n)s) g) m"),
                     {"org_id": org_id, "from_": sender, "content": "x", "n": rows})
        conn.execute('ANALYZE "SendQueue"')
    claimed = 0
    latencies: list[float] = []
    conns = [await AsyncConnection.connect(psycopg_url(url)) for _ in range(concurrency)]
    _cpu_start()
    start = time.perf_counter()
    deadline = start + duration

    async def run(conn: AsyncConnection, owner: str) -> None:
        nonlocal claimed
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            ids = [r[0] for r in await (await conn.execute(SQ_CLAIM, {"limit": batch, "owner": owner})).fetchall()]
            await conn.commit()
            if not ids:
                return
            await conn.execute(SQ_DELETE, {"ids": ids, "owner": owner})
            await conn.commit()
            latencies.append(time.perf_counter() - t0)
            claimed += len(ids)

    await asyncio.gather(*(run(c, f"bench-{k}") for k, c in enumerate(conns)))
    elapsed = time.perf_counter() - start
    used = _cpu_end()
    for c in conns:
        await c.close()
    exhausted = claimed >= rows
    report.add("base_sq_claim", Figure(
        f'baseline: "SendQueue" claim {batch} SKIP LOCKED + batch delete', claimed / elapsed, "rows/s",
        p50_ms=_ms(latencies, 50), p99_ms=_ms(latencies, 99),
        note=f"{concurrency} connections, latency per batch; {claimed:,} rows"
             + (" (all seeded rows: the figure is a lower bound)" if exhausted else ""),
        extra={"count": claimed, "cpu": used}))
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("""DELETE FROM "MessageLog" WHERE "id" LIKE 'msg\\_sqb%%'""")


async def claim_rates(url: str, duration: float, report: Report, jobs: int) -> None:
    """SKIP LOCKED claim + finish, the work a worker must do per job, on pre-seeded jobs."""
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
        conn.execute("""
            SELECT procrastinate_defer_jobs_v1(array_agg(ROW('bench', 'bench.noop', 0, 'bench:' || g, NULL,
                   jsonb_build_object('message_id', 'msg_' || g), NULL)::procrastinate_job_to_defer_v1))
            FROM generate_series(1, %s) g""", (jobs,))
        # Fresh statistics: with none, fetch_job's lock check is planned as a scan per candidate
        # and one fetch over a few thousand jobs takes seconds (see docs/benchmarks.md).
        conn.execute("ANALYZE procrastinate_jobs")
        worker_id = conn.execute("SELECT worker_id FROM procrastinate_register_worker_v1()").fetchone()[0]

    raw_claim = """
        UPDATE procrastinate_jobs SET status = 'doing'
        WHERE id = (SELECT id FROM procrastinate_jobs WHERE status = 'todo' AND queue_name = 'bench'
                    ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 1)
        RETURNING id"""

    async def raw(conn: AsyncConnection, i: int) -> None:
        job = await (await conn.execute(raw_claim)).fetchone()
        await conn.commit()
        if job:
            await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", (job[0],))
            await conn.commit()

    async def library(conn: AsyncConnection, i: int) -> None:
        job = await (await conn.execute("SELECT id FROM procrastinate_fetch_job_v2(%s::varchar[], %s)",
                                        (["bench"], worker_id))).fetchone()
        await conn.commit()
        if job and job[0] is not None:
            await conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", (job[0],))
            await conn.commit()

    n, lat, el = await _db_loop(url, duration, raw)
    report.add("base_claim", _fig("baseline: SKIP LOCKED claim + finish", n, lat, el, "jobs/s",
                                  f"{CONCURRENCY} connections, plain UPDATE … SKIP LOCKED"))
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'todo' WHERE queue_name = 'bench'")
    n, lat, el = await _db_loop(url, duration, library)
    report.add("base_claim_lib", _fig("baseline: procrastinate fetch_job + finish", n, lat, el, "jobs/s",
                                      f"{CONCURRENCY} connections, the library's own SQL functions"))
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'bench'")
        conn.execute("SELECT procrastinate_unregister_worker_v1(%s)", (worker_id,))


async def update_rate(url: str, duration: float, report: Report, rows: int) -> None:
    org_id, sender = await _org_and_sender(url)
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("""
            INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "twilioSid", "metadata")
            SELECT 'msg_upd' || g, %s, 'outbound', 'sent', %s, '+14155552671', 'x', 'SMupd' || g, '{}'::jsonb
            FROM generate_series(1, %s) g""", (org_id, sender, rows))
        conn.execute('ANALYZE "MessageLog"')
    statement = 'UPDATE "MessageLog" SET "status" = %s, "updatedAt" = now() WHERE "twilioSid" = %s'

    async def step(conn: AsyncConnection, i: int) -> None:
        await conn.execute(statement, ("delivered" if (i // rows) % 2 == 0 else "sent", f"SMupd{i % rows + 1}"))
        await conn.commit()

    n, lat, el = await _db_loop(url, duration, step)
    report.add("base_update", _fig("baseline: UPDATE \"MessageLog\" by sid, 1 tx each", n, lat, el, "rows/s",
                                   f"{CONCURRENCY} connections"))


async def simulator_capacity(sim_port: int, duration: float, report: Report) -> None:
    """Messages.json create on the simulator with latency and faults off; no StatusCallback, so
    it does nothing but accept. The simulator's start-up config is restored afterwards."""
    sim = SimulatorClient(f"http://127.0.0.1:{sim_port}")
    sim.configure(api_latency="", random_429_rate=0.0, random_5xx_rate=0.0, speed_long_code=100000.0)
    auth = base64.b64encode(f"{DEFAULT_ACCOUNT_SID}:{DEFAULT_AUTH_TOKEN}".encode()).decode()
    path = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"
    raws = [loadgen.request_bytes("POST", path, body=loadgen.form_body(
        {"To": f"+1415{2000000 + i:07d}", "From": "+16502000000", "Body": "Your table for 2 is ready."}),
        headers={"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"})
        for i in range(2000)]
    _cpu_start()
    res = await loadgen.closed_loop(sim_port, lambda i: raws[i % len(raws)], concurrency=CONCURRENCY,
                                    duration=duration, ok_statuses=(201,))
    used = _cpu_end()
    report.add("base_sim", Figure("baseline: simulator Messages create (no latency)", res.rate, "req/s",
                                  p50_ms=_ms(res.latencies, 50), p99_ms=_ms(res.latencies, 99),
                                  note=f"{CONCURRENCY} connections; statuses {res.statuses}",
                                  extra={"count": len(res.latencies), "cpu": used}))
    sim.reset()  # forget these messages and restore SIM_* settings
    sim.close()


async def api_floor(api_port: int, duration: float, report: Report) -> None:
    """GET /healthz: one pooled connection and SELECT 1 through FastAPI and uvicorn, the cheapest
    request the API process can answer; no send can be faster than this."""
    raw = loadgen.request_bytes("GET", "/healthz")
    _cpu_start()
    res = await loadgen.closed_loop(api_port, lambda i: raw, concurrency=CONCURRENCY, duration=duration, warmup=20)
    used = _cpu_end()
    report.add("base_api", Figure("baseline: API GET /healthz (SELECT 1)", res.rate, "req/s",
                                  p50_ms=_ms(res.latencies, 50), p99_ms=_ms(res.latencies, 99),
                                  note=f"{CONCURRENCY} connections",
                                  extra={"count": len(res.latencies) + 20, "cpu": used}))
