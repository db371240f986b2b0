"""Status-callback ingestion: signed, realistic Twilio callbacks ('sent' then a final status,
1 in 50 'undelivered' with an error code) for messages already handed to Twilio, fired closed
loop at the API with no worker running. Afterwards every event must be stored once in
"MessageEvent" and every message must carry its final status."""

from __future__ import annotations

import random
import time
import uuid

import psycopg
from twilio.request_validator import RequestValidator

from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from smsrelay.store.db import psycopg_url

from bench import loadgen
from bench.orgs import BenchOrg
from bench.pgstats import BENCH_TAG
from bench.report import Figure, Report

CONCURRENCY = 16


def _seed(url: str, org: BenchOrg, count: int) -> list[tuple[str, str, str]]:
    """Messages as a worker leaves them after Twilio accepted them: queued, with a sid."""
    tag = uuid.uuid4().hex[:6]
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        rows = conn.execute("""
            INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "twilioSid", "metadata")
            SELECT 'msg_cb' || %(tag)s || g, %(org)s, 'outbound', 'queued', %(from)s,
                   '+1415' || (2000000 + g)::text, 'Your table for 2 is ready.', 'SMcb' || %(tag)s || g,
                   '{"attempts": 1, "country": "US"}'::jsonb
            FROM generate_series(1, %(n)s) g
            RETURNING "id", "twilioSid", "to" """, {"tag": tag, "org": org.id, "from": org.number, "n": count}).fetchall()
        conn.execute('ANALYZE "MessageLog"')
    return rows


def build_requests(base_url: str, org: BenchOrg, messages: list[tuple[str, str, str]], seed: int = 3) -> list[bytes]:
    validator = RequestValidator(DEFAULT_AUTH_TOKEN)
    rng = random.Random(seed)
    out = []
    for message_id, sid, to in messages:
        final = "undelivered" if rng.random() < 0.02 else "delivered"
        for status in ("sent", final):
            params = {"AccountSid": DEFAULT_ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": org.number,
                      "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": to}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            if status != "sent":
                params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
            path = f"/webhooks/twilio/status?messageId={message_id}"
            signature = validator.compute_signature(base_url + path, params)
            out.append(loadgen.request_bytes("POST", path, body=loadgen.form_body(params), headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
                "I-Twilio-Idempotency-Token": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sid}/{status}")),
                "User-Agent": "TwilioProxy/1.1"}))
    return out


def _applied(url: str, sids: list[str]) -> tuple[int, int]:
    with psycopg.connect(psycopg_url(url)) as conn:
        events = conn.execute(f'{BENCH_TAG} SELECT count(*) FROM "MessageEvent" WHERE "twilioSid" = ANY(%s)',
                              (sids,)).fetchone()[0]
        final = conn.execute(f"""{BENCH_TAG} SELECT count(*) FROM "MessageLog" WHERE "twilioSid" = ANY(%s)
                                 AND "status" IN ('delivered', 'undelivered')""", (sids,)).fetchone()[0]
    return events, final


async def run(url: str, api_port: int, public_base_url: str, org: BenchOrg, messages: int, report: Report,
              on_start=None) -> None:
    """on_start: called once the messages are seeded and the requests signed, as the load begins."""
    seeded = _seed(url, org, messages)
    requests = build_requests(public_base_url.rstrip("/"), org, seeded)
    if on_start is not None:
        on_start()
    res = await loadgen.closed_loop(api_port, lambda i: requests[i], concurrency=CONCURRENCY, total=len(requests))
    sids = [s for _, s, _ in seeded]
    # An inbox design answers once the raw event is stored and applies it just after: wait (bounded)
    # for every event and status to land; the callbacks' rate above is the webhook's.
    deadline = time.monotonic() + 30
    while True:
        events, final = _applied(url, sids)
        if (events == len(requests) and final == len(seeded)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    ok = events == len(requests) and final == len(seeded)
    p99 = loadgen.percentile(res.latencies, 99) * 1000
    report.add("callbacks", Figure(
        "status callbacks (signed)", res.rate, "callbacks/s",
        p50_ms=loadgen.percentile(res.latencies, 50) * 1000, p95_ms=loadgen.percentile(res.latencies, 95) * 1000,
        p99_ms=p99, baseline="base_update", target="≥ 3,000/s, event stored and status applied",
        met=res.rate >= 3000 and ok, extra={"committed_ok": ok},
        note=(f"{CONCURRENCY} connections, {len(requests)} callbacks for {len(seeded)} messages; "
              f"events stored {events}/{len(requests)}, final statuses {final}/{len(seeded)}; statuses {res.statuses}")))
