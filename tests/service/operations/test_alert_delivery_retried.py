""""SMS delivery rate low" counts a failure an operator retried by its retry's outcome (issue 19):
an org whose failures were all retried and delivered is not alerted on; one whose retries failed
too still is. The rate is domain/rates.py's delivered ÷ final, as everywhere else."""

from __future__ import annotations

import asyncio
import json

import psycopg
from psycopg.rows import dict_row

from smsrelay.domain import alert_rules, rates
from smsrelay.service.operations import alerts
from smsrelay.service.tenancy import orgs
from smsrelay.store.db import psycopg_url

INSERT = """INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content",
                                      "segments", "encoding", "metadata")
            VALUES (%s, %s, 'sms', 'outbound', %s, '+15017122661', '+14155552671', 'hi', 1, 'GSM-7', %s)"""


async def _findings(url: str, retry_outcome: str) -> list[alert_rules.Finding]:
    async with await psycopg.AsyncConnection.connect(psycopg_url(url), autocommit=True, row_factory=dict_row) as conn:
        org = await orgs.create_org(conn, "Acme", numbers=["+15017122661"])
        for i in range(15):
            await conn.execute(INSERT, (f"msg_ok{i}", org.id, "delivered", json.dumps({})))
        for i in range(10):  # failed, then retried by an operator: the retry is its lineage's outcome
            await conn.execute(INSERT, (f"msg_bad{i}", org.id, "failed",
                                        json.dumps({"twilioErrorCode": "30008", "retriedBy": f"msg_re{i}"})))
            await conn.execute(INSERT, (f"msg_re{i}", org.id, retry_outcome, json.dumps({"retryOf": f"msg_bad{i}"})))
        t = alert_rules.Thresholds(delivery_rate_min=0.9, delivery_rate_min_final=20)
        facts, _ = await alerts.gather_facts(conn, t)
    return alert_rules.delivery_rate_findings(facts, t)


def test_delivery_rate__failures_retried_and_delivered_count_as_delivered(database_url):
    assert asyncio.run(_findings(database_url, "delivered")) == []


def test_delivery_rate__retries_that_failed_still_fire(database_url):
    (finding,) = asyncio.run(_findings(database_url, "failed"))
    assert finding.rule == alert_rules.DELIVERY_RATE
    assert finding.details["final"] == 25 and finding.details["delivered"] == 15
    assert finding.details["rate"] == round(rates.delivery_rate(15, 25), 4)
