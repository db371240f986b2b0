"""The incident report's timeline lists real mitigations only (issue 19): not the scheduler's
balance cache (which read as "mitigation: SMS update by sql:postgres" every 5 minutes), not an
org's creation, not a HELP text edit or a number revealed on the dashboard."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from smsrelay.domain import audit_kinds
from smsrelay.service.operations import incident, metrics, report, statsd
from smsrelay.service.outbound import guards
from smsrelay.service.tenancy import mitigations, org_policy, orgs
from smsrelay.store import sql
from smsrelay.store.db import psycopg_url


async def _stage_and_read(url: str) -> tuple[list[str], list[dict]]:
    async with await psycopg.AsyncConnection.connect(psycopg_url(url), autocommit=True, row_factory=dict_row) as conn:
        acme = await orgs.create_org(conn, "Acme", numbers=["+15017122661"], actor="cli:alice")
        # What the scheduler writes, with no actor named: the cached balance, twice, and a StatsD push.
        for amount in (42.0, 41.5):
            await sql.execute(conn, "put_system_setting", key=metrics.BALANCE_KEY,
                              value={"balance": amount, "currency": "USD", "fetchedAt": "2026-12-02T03:00:00+00:00",
                                     "samples": []})
        await sql.execute(conn, "put_system_setting", key=statsd.PUSHED_KEY, value={"totals": {"sent": 1}})
        await org_policy.update(conn, acme.id, {"helpText": "Acme support: 555-0100"}, actor="cli:alice")
        await sql.execute(conn, "insert_audit", table_name="MessageLog", org_id=acme.id, action="reveal_number",
                          actor="dashboard:alice", reason="support ticket", before=None, after=None)
        await mitigations.disable_org(conn, acme.id, actor="cli:alice", reason="carrier filtering")
        await mitigations.throttle_org(conn, acme.id, 30, actor="cli:alice", reason="rate limits")
        await mitigations.pause(conn, actor="cli:bob", reason="provider outage")
        await org_policy.update(conn, acme.id, {"allowedCountries": ["US"]}, actor="cli:alice")
        w = await incident.window(conn, "1h")
        events, _ = await report._timeline(conn, w)
        audit = await (await conn.execute('SELECT * FROM "AuditLog" ORDER BY "id"')).fetchall()
    return [text for _, text in events], audit


def test_timeline__only_mitigations__the_balance_cache_is_not_even_audited(database_url):
    events, audit = asyncio.run(_stage_and_read(database_url))
    mitigations_listed = [e for e in events if e.startswith("mitigation: ")]
    assert len(mitigations_listed) == 4, events
    assert "smsDisabled: False → True by cli:alice — carrier filtering" in mitigations_listed[0]
    assert "maxMessagesPerMinute: None → 30 by cli:alice — rate limits" in mitigations_listed[1]
    assert mitigations_listed[2] == "mitigation: SMS insert by cli:bob — provider outage"
    assert "allowedCountries" in mitigations_listed[3]
    assert not any("sql:" in e or "created" in e or "helpText" in e or "reveal" in e for e in events), events

    # At the source: the trigger no longer records the caches (migration 0019); every other
    # change is still in the audit log, classified as not a mitigation.
    keys = [(r["after"] or r["before"] or {}).get("key") for r in audit if r["tableName"] == "SystemSetting"]
    assert keys == [guards.KILL_SWITCH_KEY], keys
    kinds = {(r["tableName"], r["action"], audit_kinds.is_mitigation(r)) for r in audit}
    assert ("OrgSettings", "insert", False) in kinds and ("MessageLog", "reveal_number", False) in kinds


def test_is_mitigation__rows_written_before_the_trigger_changed():
    cache_row = {"tableName": "SystemSetting", "action": "update", "before": {"key": "twilio_balance"},
                 "after": {"key": "twilio_balance", "value": {"balance": 1}}}
    pause_row = {"tableName": "SystemSetting", "action": "update", "before": {"key": "sms_paused"},
                 "after": {"key": "sms_paused", "value": {"paused": True}}}
    retry_row = {"tableName": "MessageLog", "action": "retry", "before": None, "after": {"retried": 3}}
    webhook_row = {"tableName": "OrgSettings", "action": "update", "before": {"inboundWebhookUrl": "a"},
                   "after": {"inboundWebhookUrl": "b"}}
    assert [audit_kinds.is_mitigation(r) for r in (cache_row, pause_row, retry_row, webhook_row)] == [
        False, True, True, False]
    assert {metrics.BALANCE_KEY, statsd.PUSHED_KEY} == audit_kinds.CACHE_KEYS
