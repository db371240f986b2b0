"""Metrics derived from PostgreSQL at scrape time, so every API process on every machine
reports the same values, whatever process handled the traffic.

Counters come from "MessageCounter" (kept by a trigger on "MessageLog", see migration 0003),
gauges from the partial open-status index, "SendQueue" and "SendWorker" (the send loop),
procrastinate's jobs (forwards) and cached values the
scheduler stores in "SystemSetting" (Twilio's balance is never fetched per scrape).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from psycopg import AsyncConnection

from smsrelay.domain import alert_rules
from smsrelay.service import jobs as job_names
from smsrelay.service.events import metrics as webhook_metrics
from smsrelay.service.operations import channel_counters, rollup
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

log = logging.getLogger(__name__)

# Must match smsrelay_latency_bucket() in migration 0003.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600)
BALANCE_KEY = "twilio_balance"
BALANCE_SAMPLE_HOURS = 24
# A worker whose heartbeat is older than this is not counted as alive.
WORKER_ALIVE_SECONDS = 60
HOLD_REASONS = ("kill_switch", "paused", "org_disabled", "autopilot")


@dataclass
class Snapshot:
    per_org: bool
    counters: list[dict[str, Any]] = field(default_factory=list)
    open_outbound: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    mitigations: list[dict[str, Any]] = field(default_factory=list)
    balance: dict[str, Any] | None = None
    firing: dict[str, int] = field(default_factory=dict)
    feature_sms_enabled: bool = True
    now: datetime | None = None
    webhook_counters: list[dict[str, Any]] = field(default_factory=list)
    webhook_endpoints: list[dict[str, Any]] = field(default_factory=list)


async def snapshot(conn: AsyncConnection, *, per_org: bool, feature_sms_enabled: bool = True) -> Snapshot:
    snap = Snapshot(per_org=per_org, feature_sms_enabled=feature_sms_enabled)
    snap.counters = await sql.all(conn, "counter_totals", per_org=per_org)
    snap.open_outbound = await sql.all(conn, "open_outbound")
    snap.jobs = await sql.all(conn, "job_queue_depth")
    snap.workers = await sql.all(conn, "worker_heartbeats")
    snap.mitigations = await sql.all(conn, "mitigation_state")
    row = await sql.one(conn, "get_system_setting", key=BALANCE_KEY)
    snap.balance = row["value"] if row else None
    snap.firing = {r["rule"]: r["count"] for r in await sql.all(conn, "alert_firing_counts")}
    snap.now = (await (await conn.execute("SELECT now() AS now")).fetchone())["now"]
    snap.webhook_counters = await sql.all(conn, "webhook_counter_totals")
    snap.webhook_endpoints = await sql.all(conn, "webhook_endpoint_states")
    return snap


def _org(snap: Snapshot, row: dict[str, Any]) -> list[str]:
    return [row["orgId"]] if snap.per_org else []


class SnapshotCollector(Collector):
    """Turns one Snapshot into Prometheus families; a fresh one is registered per scrape."""

    def __init__(self, snap: Snapshot):
        self.snap = snap

    def collect(self) -> Iterator[Any]:  # noqa: C901 - one family after another
        snap = self.snap
        org = ["org"] if snap.per_org else []
        outbound = CounterMetricFamily("twilio_sms_outbound", "Outbound SMS that reached each status "
                                       "(sent = handed to a carrier); the runbook's twilio.sms.outbound",
                                       labels=["status", *org])
        inbound = CounterMetricFamily("twilio_sms_inbound", "Inbound SMS received", labels=org)
        failed = CounterMetricFamily("twilio_sms_failed", "Outbound SMS failed or undelivered, by Twilio error code",
                                     labels=["error_code", *org])
        sums: dict[tuple, float] = {}
        outbound_n: dict[tuple, int] = {}
        failed_n: dict[tuple, int] = {}
        inbound_n: dict[tuple, int] = {}
        latency: dict[tuple, dict[float, int]] = {}
        for r in snap.counters:
            o = tuple(_org(snap, r))
            if r["name"] == "outbound":
                outbound_n[(r["status"], *o)] = outbound_n.get((r["status"], *o), 0) + r["count"]
                if r["status"] in alert_rules.FAILURE_STATUSES:
                    k = (r["errorCode"] or "none", *o)
                    failed_n[k] = failed_n.get(k, 0) + r["count"]
            elif r["name"] == "inbound" and r["status"] == "received":
                inbound_n[o] = inbound_n.get(o, 0) + r["count"]
            elif r["name"] == "latency":
                buckets = latency.setdefault(o, {})
                buckets[r["le"]] = buckets.get(r["le"], 0) + r["count"]
                sums[o] = sums.get(o, 0.0) + r["sum"]
        # Series that exist from the first scrape, so rate() and absent() behave before traffic.
        for status in ("queued", "sent", "delivered", "failed", "undelivered"):
            if not snap.per_org:
                outbound_n.setdefault((status,), 0)
        if not snap.per_org:
            inbound_n.setdefault((), 0)
            latency.setdefault((), {})
        for k, v in sorted(outbound_n.items()):
            outbound.add_metric(list(k), v)
        for k, v in sorted(inbound_n.items()):
            inbound.add_metric(list(k), v)
        for k, v in sorted(failed_n.items()):
            failed.add_metric(list(k), v)
        yield from (outbound, inbound, failed)
        yield channel_counters.family(snap.counters, org, lambda r: tuple(_org(snap, r)))

        hist = HistogramMetricFamily("twilio_sms_delivery_latency_seconds",
                                     "Seconds from acceptance (createdAt) to delivered (finalAt)", labels=org)
        for o, buckets in sorted(latency.items()):
            running, cumulative = 0, []
            for le in LATENCY_BUCKETS:
                running += buckets.get(float(le), 0)
                cumulative.append((str(float(le)), running))
            running += buckets.get(float("inf"), 0)
            cumulative.append(("+Inf", running))
            hist.add_metric(list(o), cumulative, sum_value=sums.get(o, 0.0))
        yield hist

        yield from self._queue_families()
        yield from self._ops_families()
        yield from webhook_metrics.families(snap.webhook_counters, snap.webhook_endpoints)

    def _queue_families(self) -> Iterable[Any]:
        snap = self.snap
        queued = GaugeMetricFamily("smsrelay_sms_queued_messages", "Outbound SMS not yet final, by stage "
                                   "(ours: waiting for a worker; twilio: in Twilio's queue; sent: awaiting the carrier)",
                                   labels=["stage"])
        oldest = GaugeMetricFamily("smsrelay_sms_queue_oldest_age_seconds",
                                   "Age of the oldest outbound SMS in each stage", labels=["stage"])
        held = GaugeMetricFamily("smsrelay_sms_held_messages", "Outbound SMS held by a mitigation, by reason",
                                 labels=["reason"])
        held_age = GaugeMetricFamily("smsrelay_sms_held_oldest_age_seconds", "Age of the oldest held SMS",
                                     labels=["reason"])
        by_stage = {s: [0, 0.0] for s in ("ours", "twilio", "sent", "scheduled")}
        # The guards' reasons always have a series, so "held went to 0" is visible on a graph.
        by_reason = {reason: [0, 0.0] for reason in HOLD_REASONS}
        for r in snap.open_outbound:
            if r["stage"] == "held":
                by_reason[r["reason"] or "unknown"] = [r["count"], r["oldestAge"]]
            else:
                by_stage[r["stage"]][0] += r["count"]
                by_stage[r["stage"]][1] = max(by_stage[r["stage"]][1], r["oldestAge"])
        for reason, (count, age) in sorted(by_reason.items()):
            held.add_metric([reason], count)
            held_age.add_metric([reason], age)
        for stage, (count, age) in by_stage.items():
            queued.add_metric([stage], count)
            oldest.add_metric([stage], age)
        jobs = GaugeMetricFamily("smsrelay_queue_depth", "Jobs due (todo), waiting for a retry backoff "
                                 "(scheduled) or running (doing), per job queue", labels=["queue", "status"])
        depth = {(q, st): 0 for q in (job_names.SEND_QUEUE, job_names.WEBHOOK_QUEUE) for st in ("todo", "scheduled", "doing")}
        for r in snap.jobs:
            depth[(r["queue"], r["status"])] = r["count"]
        for (queue, status), count in sorted(depth.items()):
            jobs.add_metric([queue, status], count)
        send_age = GaugeMetricFamily("smsrelay_send_queue_oldest_age_seconds",
                                     "Seconds since the oldest \"SendQueue\" row in each status was enqueued",
                                     labels=["status"])
        ages = {st: 0.0 for st in ("todo", "scheduled", "doing")}
        for r in snap.jobs:
            if r["queue"] == job_names.SEND_QUEUE:
                ages[r["status"]] = r["oldestAge"] or 0.0
        for status, value in sorted(ages.items()):
            send_age.add_metric([status], value)
        return [queued, oldest, held, held_age, jobs, send_age]

    def _ops_families(self) -> Iterable[Any]:
        snap = self.snap
        out = []
        if snap.balance and snap.balance.get("balance") is not None:
            cur = [snap.balance.get("currency") or "USD"]
            g = GaugeMetricFamily("twilio_balance", "Twilio account balance (cached by the scheduler)",
                                  labels=["currency"])
            g.add_metric(cur, float(snap.balance["balance"]))
            f = GaugeMetricFamily("twilio_balance_fetched_timestamp_seconds", "When the balance was fetched")
            f.add_metric([], datetime.fromisoformat(snap.balance["fetchedAt"]).timestamp())
            out += [g, f]
            spend = balance_spend(snap.balance)
            if spend is not None:
                s = GaugeMetricFamily("twilio_balance_spend_per_hour", "Spend rate from balance samples",
                                      labels=["currency"])
                s.add_metric(cur, spend)
                out.append(s)
        alive = GaugeMetricFamily("smsrelay_workers_alive", f"Workers with a heartbeat in the last {WORKER_ALIVE_SECONDS} s")
        alive.add_metric([], sum(1 for w in snap.workers if w["age"] < WORKER_ALIVE_SECONDS))
        age = GaugeMetricFamily("smsrelay_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat",
                                labels=["worker"])
        for w in snap.workers:
            age.add_metric([str(w["workerId"])], w["age"])
        kill = GaugeMetricFamily("smsrelay_sms_kill_switch", "1 while outbound SMS is stopped for every org",
                                 labels=["source"])
        kill.add_metric(["env"], 0 if snap.feature_sms_enabled else 1)
        kill.add_metric(["runtime"], 1 if any(m["kind"] == "paused" for m in snap.mitigations) else 0)
        mit = GaugeMetricFamily("smsrelay_mitigation_age_seconds",
                                "Seconds the longest-running mitigation of each kind has been on", labels=["kind"])
        disabled = GaugeMetricFamily("smsrelay_orgs_sms_disabled", "Orgs with smsDisabled set")
        disabled.add_metric([], sum(1 for m in snap.mitigations if m["kind"] == "org_disabled"))
        for kind in ("org_disabled", "paused"):
            ages = [(snap.now - m["since"]).total_seconds() for m in snap.mitigations if m["kind"] == kind]
            mit.add_metric([kind], max(ages, default=0.0))
        firing = GaugeMetricFamily("smsrelay_alerts_firing", "Alerts firing, by rule", labels=["rule"])
        for rule in alert_rules.RULES:
            firing.add_metric([rule], snap.firing.get(rule, 0))
        return [*out, alive, age, kill, mit, disabled, firing]


def render(snap: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snap))
    return generate_latest(registry)


async def scrape(rt: Runtime) -> bytes:
    async with rt.pool.connection() as conn:
        snap = await snapshot(conn, per_org=rt.settings.metrics_per_org_labels,
                              feature_sms_enabled=rt.settings.feature_sms_enabled)
    return render(snap)


class ScrapeCache:
    """The last exposition and when it was made. Concurrent scrapes wait for one query instead
    of each running their own (the lock), and repeats within METRICS_CACHE_SECONDS get it as is."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.made_at = -math.inf
        self.body = b""


async def cached_scrape(rt: Runtime) -> bytes:
    cache: ScrapeCache = rt.extras.setdefault("metrics_scrape_cache", ScrapeCache())
    ttl = rt.settings.metrics_cache_seconds
    async with cache.lock:
        if time.monotonic() - cache.made_at >= ttl:
            cache.body = await scrape(rt)
            cache.made_at = time.monotonic()
        return cache.body


# --- scheduler side: fold counters, cache the balance ------------------------------------------

async def fold_counters(rt: Runtime) -> int:
    """Both trigger-kept tallies: these counters and the dashboard's hourly rollup."""
    async with rt.pool.connection() as conn:
        folded = await sql.execute(conn, "counter_fold")
        return folded + await rollup.fold(conn)


def balance_samples(value: dict[str, Any]) -> list[tuple[datetime, float]]:
    return [(datetime.fromisoformat(at), float(b)) for at, b in value.get("samples", [])]


def balance_spend(value: dict[str, Any]) -> float | None:
    return alert_rules.spend_per_hour(balance_samples(value))


async def refresh_balance(rt: Runtime, *, force: bool = False) -> dict[str, Any] | None:
    """Fetch Twilio's balance when the cached one is older than BALANCE_REFRESH_SECONDS, and keep
    24 h of samples for the spend rate (the runway alert)."""
    async with rt.pool.connection() as conn:
        row = await sql.one(conn, "get_system_setting", key=BALANCE_KEY)
        now = (await (await conn.execute("SELECT now() AS now")).fetchone())["now"]
    cached = row["value"] if row else None
    if cached and not force:
        age = (now - datetime.fromisoformat(cached["fetchedAt"])).total_seconds()
        if age < rt.settings.balance_refresh_seconds:
            return cached
    fetched = await rt.gateway.balance()
    amount = float(fetched["balance"])
    samples = [(at, b) for at, b in balance_samples(cached or {}) if at > now - timedelta(hours=BALANCE_SAMPLE_HOURS)]
    samples.append((now, amount))
    value = {"balance": amount, "currency": fetched["currency"], "fetchedAt": now.isoformat(),
             "samples": [[at.isoformat(), b] for at, b in samples[-500:]]}
    async with rt.pool.connection() as conn:
        await sql.execute(conn, "put_system_setting", key=BALANCE_KEY, value=value)
    return value
