"""StatsD / DogStatsD output with the runbook's dotted names (twilio.sms.outbound, …).

The scheduler's leader pushes once per tick: counters as deltas since the last push, gauges as
they are. The last pushed totals live in "SystemSetting", so a new leader continues where the
old one stopped instead of re-sending everything (or skipping a tick's traffic). Sending the
lines is the StatsD adapter's (smsrelay/statsd.py).
"""

from __future__ import annotations

from typing import Any

from smsrelay import statsd as statsd_client
from smsrelay.service.operations import metrics
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

PUSHED_KEY = "statsd_pushed"


def counter_totals(snap: metrics.Snapshot) -> dict[str, int]:
    """Cumulative counts keyed 'name|tag:value' (tags sorted), from the trigger-kept counters."""
    totals: dict[str, int] = {}

    def add(key: str, n: int) -> None:
        totals[key] = totals.get(key, 0) + n

    for r in snap.counters:
        if r["name"] == "outbound":
            add(f"twilio.sms.outbound|status:{r['status']}", r["count"])
            if r["status"] in ("failed", "undelivered"):
                add(f"twilio.sms.failed|error_code:{r['errorCode'] or 'none'}", r["count"])
        elif r["name"] == "inbound" and r["status"] == "received":
            add("twilio.sms.inbound", r["count"])
        elif r["name"] == "latency":
            add("twilio.sms.delivered", r["count"])
            add("twilio.sms.delivery_latency_ms_sum", int(r["sum"] * 1000))
    return totals


def gauges(snap: metrics.Snapshot) -> dict[str, float]:
    out: dict[str, float] = {f"smsrelay.sms.queued|stage:{s}": 0.0 for s in ("ours", "twilio", "sent", "scheduled")}
    for r in snap.open_outbound:
        if r["stage"] == "held":
            out[f"smsrelay.sms.held|reason:{r['reason'] or 'unknown'}"] = float(r["count"])
        else:
            out[f"smsrelay.sms.queued|stage:{r['stage']}"] += r["count"]
            key = f"smsrelay.sms.queue_oldest_age_seconds|stage:{r['stage']}"
            out[key] = max(out.get(key, 0.0), r["oldestAge"])
    for r in snap.jobs:
        out[f"smsrelay.queue.depth|queue:{r['queue']},status:{r['status']}"] = float(r["count"])
    if snap.balance and snap.balance.get("balance") is not None:
        out["twilio.balance"] = float(snap.balance["balance"])
    out["smsrelay.workers.alive"] = float(sum(1 for w in snap.workers if w["age"] < metrics.WORKER_ALIVE_SECONDS))
    for rule, n in snap.firing.items():
        out[f"smsrelay.alerts.firing|rule:{rule}"] = float(n)
    return out


def line(key: str, value: float | int, kind: str, *, tags: bool, prefix: str = "") -> str:
    name, _, tagpart = key.partition("|")
    value_text = str(int(value)) if kind == "c" or float(value).is_integer() else f"{value:.3f}"
    if tags:
        return f"{prefix}{name}:{value_text}|{kind}" + (f"|#{tagpart}" if tagpart else "")
    # Plain StatsD has no tags: fold tag values into the name (twilio.sms.outbound.delivered).
    folded = ".".join([name, *(t.partition(":")[2].replace(".", "_") for t in tagpart.split(",") if t)])
    return f"{prefix}{folded}:{value_text}|{kind}"


async def push(rt: Runtime) -> int | None:
    """Push one round when STATSD_HOST is set; returns the number of lines sent."""
    settings = rt.settings
    if not settings.statsd_host:
        return None
    async with rt.pool.connection() as conn:
        snap = await metrics.snapshot(conn, per_org=False, feature_sms_enabled=settings.feature_sms_enabled)
        row = await sql.one(conn, "get_system_setting", key=PUSHED_KEY)
    totals = counter_totals(snap)
    last: dict[str, Any] | None = row["value"].get("totals") if row else None
    lines = []
    if last is not None:  # the very first push only records a baseline
        for key, total in sorted(totals.items()):
            delta = total - int(last.get(key, 0))
            if delta > 0:
                lines.append(line(key, delta, "c", tags=settings.statsd_dogstatsd_tags))
    for key, value in sorted(gauges(snap).items()):
        lines.append(line(key, value, "g", tags=settings.statsd_dogstatsd_tags))
    await statsd_client.send(settings.statsd_host, settings.statsd_port, lines)
    async with rt.pool.connection() as conn:
        await sql.execute(conn, "put_system_setting", key=PUSHED_KEY, value={"totals": totals})
    return len(lines)
