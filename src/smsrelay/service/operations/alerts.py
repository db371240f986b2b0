"""The alert engine: gather facts from PostgreSQL, let the domain rules decide, keep "Alert"
state (firing/resolved) and send each notification exactly once.

The scheduler runs this on its single leader, but nothing here relies on that: firing is an
upsert on a partial unique index (one firing alert per key), and a notification is sent only
by whoever inserted its ("alertId", "channel", "event") row, so two evaluators racing cannot
double-notify.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from psycopg import AsyncConnection

from smsrelay.domain import alert_rules
from smsrelay.domain.alert_rules import Facts, Finding, Thresholds
from smsrelay.service.events import metrics as webhook_alerts
from smsrelay.service.operations import metrics, statsd
from smsrelay import notify
from smsrelay.service.runtime import Runtime
from smsrelay.service.spend import pumping
from smsrelay.settings import Settings
from smsrelay.store import sql

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60
MAX_ATTEMPTS = 10
FLAT_RECENT_SECONDS = 300
# Each observability step's deadline. The balance is one Twilio call; alerts include sending
# notifications (10 s per channel, several channels).
STEP_SECONDS = {"fold": 20.0, "balance": 10.0, "alerts": 40.0, "statsd": 10.0}


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(**{name: getattr(settings, f"alert_{name}") for name in Thresholds.__dataclass_fields__})


async def gather_facts(conn: AsyncConnection, t: Thresholds) -> tuple[Facts, datetime]:
    long_window = max(t.failed_window_seconds, t.delivery_rate_window_seconds)
    short_is_failed = t.failed_window_seconds <= t.delivery_rate_window_seconds
    # {channel: {orgId: {status: count}}}; SMS goes to the runbook's rules, the others to theirs.
    failed_by: dict[str, dict[str, dict[str, int]]] = {}
    delivery_by: dict[str, dict[str, dict[str, int]]] = {}
    rows = await sql.all(conn, "alert_outbound_window", long_seconds=long_window,
                         short_seconds=min(t.failed_window_seconds, t.delivery_rate_window_seconds))
    for r in rows:
        short, full = r["shortCount"], r["count"]
        f_n, d_n = (short, full) if short_is_failed else (full, short)
        failed, delivery = failed_by.setdefault(r["channel"], {}), delivery_by.setdefault(r["channel"], {})
        if f_n:
            by_status = failed.setdefault(r["orgId"], {})
            by_status[r["status"]] = by_status.get(r["status"], 0) + f_n
        if d_n and not r["retried"]:
            # A failure an operator retried is counted by its retry: delivered if that was.
            by_status = delivery.setdefault(r["orgId"], {})
            by_status[r["status"]] = by_status.get(r["status"], 0) + d_n
    flat = await sql.one(conn, "alert_flat_facts", window_seconds=t.flat_window_seconds,
                         recent_seconds=min(FLAT_RECENT_SECONDS, t.flat_window_seconds))
    now = flat["now"]
    waiting = [r for r in await sql.all(conn, "open_outbound") if r["stage"] in ("ours", "twilio")]
    balance_row = await sql.one(conn, "get_system_setting", key=metrics.BALANCE_KEY)
    balance = balance_row["value"] if balance_row else None
    disabled: dict[str, datetime] = {}
    paused_since = None
    for m in await sql.all(conn, "mitigation_state"):
        if m["kind"] == "paused":
            paused_since = m["since"]
        else:
            disabled[m["orgId"]] = m["since"]
    facts = Facts(
        failed_window=failed_by.pop("sms", {}), delivery_window=delivery_by.pop("sms", {}),
        channel_failed_window={c: f for c, f in failed_by.items() if f},
        channel_delivery_window={c: d for c, d in delivery_by.items() if d},
        inbound_in_window=flat["inbound"], inbound_recent=flat["inboundRecent"], sent_in_window=flat["sent"],
        oldest_queued_age_seconds=max((r["oldestAge"] for r in waiting), default=None),
        queued_count=sum(r["count"] for r in waiting),
        balance=None if balance is None else float(balance["balance"]),
        currency=(balance or {}).get("currency", "USD"),
        spend_per_hour=None if balance is None else metrics.balance_spend(balance),
        disabled_orgs=disabled, paused_since=paused_since,
        failing_webhooks=webhook_alerts.failing_by_org(await sql.all(conn, "webhook_endpoint_states")),
        pumping=tuple(await pumping.signals(conn, now - timedelta(seconds=t.pumping_window_seconds), now)))
    return facts, now


async def apply_findings(conn: AsyncConnection, findings: list[Finding]) -> dict[str, list[dict[str, Any]]]:
    """Upsert what fires, resolve what no longer does; returns the alerts that changed state."""
    fired, resolved = [], []
    async with conn.transaction():
        firing_before = {a["key"] for a in await sql.all(conn, "alert_firing")}
        for f in findings:
            row = await sql.one(conn, "alert_fire", key=f.key, rule=f.rule, org_id=f.org_id, severity=f.severity,
                                title=f.title, summary=f.summary, details=f.details)
            if f.key not in firing_before:
                fired.append(row)
        gone = sorted(firing_before - {f.key for f in findings})
        if gone:
            resolved = await sql.all(conn, "alert_resolve", keys=gone)
    return {"fired": fired, "resolved": resolved}


async def evaluate(rt: Runtime) -> dict[str, list[dict[str, Any]]]:
    t = thresholds(rt.settings)
    async with rt.pool.connection() as conn:
        facts, now = await gather_facts(conn, t)
        findings = alert_rules.evaluate(facts, t, now)
        changed = await apply_findings(conn, findings)
    for a in changed["fired"]:
        log.warning("alert firing: %s (%s)", a["title"], a["summary"])
    for a in changed["resolved"]:
        log.info("alert resolved: %s", a["key"])
    return changed


async def notify_pending(rt: Runtime) -> list[tuple[int, str, str, bool]]:
    """Claim and send every notification nobody has claimed yet (and retry failed ones)."""
    chans = notify.channels(rt.settings)
    if not chans:
        return []
    async with rt.pool.connection() as conn:
        claimed = await sql.all(conn, "alert_claim_pending", channels=chans)
        claimed += await sql.all(conn, "alert_reclaim_failed", after_seconds=RETRY_AFTER_SECONDS,
                                 max_attempts=MAX_ATTEMPTS)
        alerts = {a["id"]: a for a in await sql.all(conn, "alert_by_ids", ids=sorted({c["alertId"] for c in claimed}))}
    results = []
    async with httpx.AsyncClient(timeout=10.0) as client:
        for c in claimed:
            if c["channel"] not in chans:
                continue
            alert = alerts[c["alertId"]]
            try:
                await notify.send(client, rt.settings, c["channel"], alert, c["event"])
                ok, error = True, None
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
                log.warning("alert %s: %s notification failed: %s", alert["key"], c["channel"], error)
            async with rt.pool.connection() as conn:
                if ok:
                    await sql.execute(conn, "alert_notification_sent", alert_id=c["alertId"], channel=c["channel"],
                                      event=c["event"])
                else:
                    await sql.execute(conn, "alert_notification_failed", alert_id=c["alertId"],
                                      channel=c["channel"], event=c["event"], error=error)
            results.append((c["alertId"], c["channel"], c["event"], ok))
    return results


async def evaluate_and_notify(rt: Runtime) -> dict[str, Any]:
    changed = await evaluate(rt)
    sent = await notify_pending(rt)
    return {**changed, "notifications": sent}


async def observability_duty(rt: Runtime) -> dict[str, Any]:
    """The scheduler's one observability duty: fold counters, refresh the cached balance,
    evaluate alerts and notify, push StatsD. A failing or hanging step does not stop the others:
    each has its own deadline, so a Twilio that does not answer the balance delays alerting
    about it by its STEP_SECONDS at most."""
    result: dict[str, Any] = {}
    for name, step in (("fold", metrics.fold_counters), ("balance", metrics.refresh_balance),
                       ("alerts", evaluate_and_notify), ("statsd", statsd.push)):
        try:
            async with asyncio.timeout(STEP_SECONDS[name]):
                result[name] = await step(rt)
        except Exception:  # noqa: BLE001 - Twilio down must not stop alerting about it
            log.exception("observability step %s failed", name)
            result[name] = "error"
    return result


async def list_alerts(rt: Runtime, *, state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    async with rt.pool.connection() as conn:
        return await sql.all(conn, "alert_list", state=state, limit=limit)


def test_alert() -> dict[str, Any]:
    return {"id": 0, "key": "test", "rule": "test", "title": "smsrelay test alert", "severity": "info",
            "orgId": None, "summary": "A test notification from `smsrelay alerts test`; nothing is wrong.",
            "details": {}, "state": "firing", "firedAt": datetime.now(timezone.utc), "resolvedAt": None}


async def send_test(rt: Runtime, *, resolve: bool = True) -> list[tuple[str, str, str | None]]:
    """Send a test alert (and its resolution) to every configured channel; no state is kept."""
    out = []
    alert = test_alert()
    async with httpx.AsyncClient(timeout=10.0) as client:
        for channel in notify.channels(rt.settings):
            for event in ("firing", "resolved") if resolve else ("firing",):
                try:
                    await notify.send(client, rt.settings, channel, alert, event)
                    out.append((channel, event, None))
                except httpx.HTTPError as exc:
                    out.append((channel, event, f"{type(exc).__name__}: {exc}"))
    return out
