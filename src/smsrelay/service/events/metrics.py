"""Delivery metrics for /metrics, always per org (an org's endpoint is its own): attempts by
outcome, their latency, and how long each org's endpoint has been failing. Read at scrape time
from the counters record_webhook_attempt appends to "MessageCounterDelta" and from
"WebhookEndpoint", like every other metric (service/operations/metrics.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

# Those of smsrelay_latency_bucket() (migration 0003), which record_webhook_attempt uses.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600)
OUTCOMES = ("delivered", "http_error", "error", "refused")


def families(counters: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> Iterable[Any]:
    attempts = CounterMetricFamily("smsrelay_webhook_deliveries", "Attempts to deliver events to orgs' endpoints, "
                                   "by outcome (delivered, http_error, error, refused)", labels=["org", "outcome"])
    hist = HistogramMetricFamily("smsrelay_webhook_delivery_latency_seconds",
                                 "Seconds an attempt took, from DNS to the last byte read", labels=["org"])
    failing = GaugeMetricFamily("smsrelay_webhook_endpoint_failing_seconds",
                                "Seconds the org's longest-failing endpoint has been failing (0: none is)",
                                labels=["org"])
    pending = GaugeMetricFamily("smsrelay_webhook_events_pending", "Events waiting to be delivered, per org",
                                labels=["org"])
    counts: dict[tuple[str, str], int] = {}
    buckets: dict[str, dict[float, int]] = {}
    sums: dict[str, float] = {}
    for r in counters:
        if r["name"] == "webhook":
            counts[(r["orgId"], r["status"])] = counts.get((r["orgId"], r["status"]), 0) + r["count"]
        else:
            per = buckets.setdefault(r["orgId"], {})
            per[r["le"]] = per.get(r["le"], 0) + r["count"]
            sums[r["orgId"]] = sums.get(r["orgId"], 0.0) + r["sum"]
    # Series from the first scrape (org "" is no org), so rules and graphs see 0 before traffic.
    if not counts:
        counts = {("", outcome): 0 for outcome in OUTCOMES}
    for (org, outcome), n in sorted(counts.items()):
        attempts.add_metric([org, outcome], n)
    for org, per in sorted((buckets or {"": {}}).items()):
        running, cumulative = 0, []
        for le in LATENCY_BUCKETS:
            running += per.get(float(le), 0)
            cumulative.append((str(float(le)), running))
        running += per.get(float("inf"), 0)
        cumulative.append(("+Inf", running))
        hist.add_metric([org], cumulative, sum_value=sums.get(org, 0.0))
    by_org: dict[str, list[float]] = {}
    for e in endpoints:
        seconds = e["failingSeconds"] if e["state"] == "failing" and e["failingSeconds"] is not None else 0.0
        entry = by_org.setdefault(e["orgId"], [0.0, 0])
        entry[0] = max(entry[0], seconds)
        entry[1] += e["pending"]
    for org, (seconds, waiting) in sorted((by_org or {"": [0.0, 0]}).items()):
        failing.add_metric([org], seconds)
        pending.add_metric([org], waiting)
    return [attempts, hist, failing, pending]


def failing_by_org(endpoints: list[dict[str, Any]]) -> dict[str, tuple[float, int]]:
    """What the alert rule reads: per org with a failing endpoint, for how long and what waits."""
    out: dict[str, tuple[float, int]] = {}
    for e in endpoints:
        if e["state"] == "failing" and e["failingSeconds"] is not None:
            seconds, waiting = out.get(e["orgId"], (0.0, 0))
            out[e["orgId"]] = (max(seconds, e["failingSeconds"]), waiting + e["pending"])
    return out
