"""End to end: open-loop arrivals at a fixed rate through the API, workers and the simulator
(Twilio latency lognormal, random 429s and 5xx), until every accepted message is sent.

Figures, all from the database and the simulator's ledger rather than from the load generator:
- accept → sent rate: accepted messages / (last "sentAt" − first "createdAt");
- queueing delay: "createdAt" (accepted, job deferred) → the worker's first attempt;
- accept → sent latency: "sentAt" − "createdAt" (includes Twilio's latency and the callback);
- none lost: every accepted id appears exactly once in the simulator's ledger (by the
  messageId in its StatusCallback) and has a "twilioSid" in "MessageLog".
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import psycopg

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url

from bench import loadgen
from bench.orgs import BenchOrg, send_requests
from bench.pgstats import BENCH_TAG
from bench.report import Figure, Report

# The worker stamps "firstAttemptAt" when it first picks a message up (procrastinate's own
# events are deleted with the finished jobs).
DELAYS = f"""{BENCH_TAG}
SELECT extract(epoch FROM ("metadata"->>'firstAttemptAt')::timestamptz - "createdAt") AS queued_s
FROM "MessageLog" WHERE "id" = ANY(%(ids)s) AND "metadata" ? 'firstAttemptAt'
"""

OUTCOMES = f"""{BENCH_TAG}
SELECT "id", "status", "twilioSid", extract(epoch FROM "createdAt") AS created,
       extract(epoch FROM "sentAt") AS sent, ("metadata"->>'attempts')::int AS attempts
FROM "MessageLog" WHERE "id" = ANY(%(ids)s)
"""


def _outcomes(url: str, ids: list[str]) -> list[tuple]:
    with psycopg.connect(psycopg_url(url)) as conn:
        rows = conn.execute(OUTCOMES, {"ids": ids}).fetchall()
    # extract(epoch …) is numeric: floats from here on.
    return [(r[0], r[1], r[2], float(r[3]), None if r[4] is None else float(r[4]), r[5]) for r in rows]


# Handed to Twilio and past it ("sentAt"), or ended before a send (a refusal). Only the stage's
# own rows: "MessageLog" may hold a generated history (--e2e-history-rows), all created before.
DONE = f"""{BENCH_TAG}
SELECT count(*) FROM "MessageLog"
WHERE "direction" = 'outbound' AND "createdAt" >= %(since)s
  AND ("sentAt" IS NOT NULL OR "status" IN ('failed', 'undelivered', 'canceled'))
"""


class _DonePoller:
    """Counts the stage's finished messages once a second on one connection (a new backend per
    poll would cost the server a fork each time, and fail when the server is out of slots)."""

    def __init__(self, url: str, since):
        self.url, self.since = url, since
        self.conn: psycopg.Connection | None = None

    def count(self) -> int:
        try:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(psycopg_url(self.url), autocommit=True)
            return self.conn.execute(DONE, {"since": self.since}).fetchone()[0]
        except psycopg.OperationalError:
            self.close()
            return -1  # not known this time; the next poll asks again

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _now(url: str):
    with psycopg.connect(psycopg_url(url)) as conn:
        return conn.execute(f"{BENCH_TAG} SELECT now()").fetchone()[0]


async def run(url: str, api_port: int, sim_port: int, bench_orgs: list[BenchOrg], *, rate: float, duration: float,
              report: Report, key: str = "e2e", title: str = "end to end accept → sent",
              drain_timeout: float = 90.0, on_drained=None) -> dict:
    """One open-loop run; the figures go under `key`, `key`_queue and `key`_accept. Returns the
    counts the targets table judges (accepted, handed to Twilio, lost, duplicated, …)."""
    since = await asyncio.to_thread(_now, url)
    requests = send_requests(bench_orgs, int(rate * duration) + 1, seed=11)
    res = await loadgen.open_loop(api_port, lambda i: requests[i], rate=rate, duration=duration,
                                  ok_statuses=(202,), keep_bodies=True)
    arrivals_end = time.time()
    ids = [json.loads(b)["id"] for b in res.bodies]
    deadline = time.monotonic() + drain_timeout
    # Waiting reads one count (the stage's messages are all the table holds), not every row:
    # fetching 30,000 rows twice a second cost the load generator and PostgreSQL more CPU per
    # message than the workers spent sending it, on the same two cores.
    poller = _DonePoller(url, since)
    while await asyncio.to_thread(poller.count) < len(ids) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
    poller.close()
    drained_at = time.time()
    if on_drained is not None:  # the stage's work is done: what follows is the benchmark's checking
        on_drained()
    rows = await asyncio.to_thread(_outcomes, url, ids)

    created = [r[3] for r in rows]
    sent = [r[4] for r in rows if r[4] is not None]
    span = (max(sent) - min(created)) if sent else float("nan")
    e2e_rate = len(sent) / span if sent else 0.0
    latencies = [r[4] - r[3] for r in rows if r[4] is not None]
    first_try = [r[4] - r[3] for r in rows if r[4] is not None and (r[5] or 1) == 1]
    with psycopg.connect(psycopg_url(url)) as conn:
        queued = [float(r[0]) for r in conn.execute(DELAYS, {"ids": ids}).fetchall() if r[0] is not None]

    # None lost, none duplicated: the ledger is the simulator's (Twilio's) own record.
    ledger = await asyncio.to_thread(lambda: SimulatorClient(f"http://127.0.0.1:{sim_port}", timeout=60).ledger(
        direction="outbound-api"))
    seen: dict[str, int] = {}
    for m in ledger:
        q = parse_qs(urlsplit(m.get("status_callback") or "").query)
        for mid in q.get("messageId", []):
            seen[mid] = seen.get(mid, 0) + 1
    status_of = {r[0]: r[1] for r in rows}
    # Still 'queued' with no sid when the drain timeout hit: waiting in our queue, not lost.
    pending = [i for i in ids if i not in seen and status_of.get(i) == "queued"]
    missing = [i for i in ids if i not in seen and status_of.get(i) != "queued"]
    duplicated = [i for i, n in seen.items() if n > 1]
    no_sid = sum(1 for r in rows if not r[2] and r[1] not in ("failed", "queued"))
    failed = sum(1 for r in rows if r[1] == "failed")
    lost_ok = not missing and not duplicated and no_sid == 0 and not pending

    def ms(values: list[float], p: float) -> float:
        return loadgen.percentile(values, p) * 1000

    drain = drained_at - arrivals_end
    sustained = e2e_rate >= 0.95 * rate and len(sent) + failed >= len(ids)
    outcome = {"rate": rate, "duration": duration, "accepted": len(ids), "sent": len(sent), "failed": failed,
               "handed_to_twilio": sum(1 for r in rows if r[2]), "lost": len(missing), "duplicated": len(duplicated),
               "without_sid": no_sid, "pending": len(pending), "none_lost": lost_ok, "sustained": sustained,
               "e2e_rate": e2e_rate, "queue_p99_ms": ms(queued, 99), "accept_p99_ms": ms(res.latencies, 99),
               "accept_p50_ms": ms(res.latencies, 50)}
    report.add(key, Figure(
        f"{title} ({rate:.0f}/s offered for {duration:.0f} s)", e2e_rate, "msg/s",
        p50_ms=ms(latencies, 50), p95_ms=ms(latencies, 95), p99_ms=ms(latencies, 99),
        baseline="base_sq_claim",
        note=(f"{len(ids)} accepted, {len(sent)} sent, {failed} failed by Twilio's injected errors; "
              f"lost {len(missing)}, duplicated {len(duplicated)}, without sid {no_sid}, "
              f"still queued at the drain timeout {len(pending)}; "
              f"{'backlog drained' if not pending else 'gave up'} {drain:.1f} s after arrivals ended; "
              f"accept statuses {res.statuses}"),
        extra={"first_attempt_p99_ms": ms(first_try, 99), **outcome}))
    report.add(f"{key}_queue", Figure(
        "  queueing delay (accepted → first attempt)", len(queued), "msgs",
        p50_ms=ms(queued, 50), p95_ms=ms(queued, 95), p99_ms=ms(queued, 99),
        note='"firstAttemptAt" − "createdAt" of each message'))
    report.add(f"{key}_accept", Figure(
        "  API accept latency under that load (open loop)", res.rate, "msg/s",
        p50_ms=ms(res.latencies, 50), p95_ms=ms(res.latencies, 95), p99_ms=ms(res.latencies, 99),
        note="measured from each request's scheduled start"))
    return outcome
