"""Across the retention boundary: `smsrelay retention run` deletes a history past
MESSAGE_RETENTION_DAYS while the runbook's SQL (verbatim) and the `incident` commands give the
same answers for the kept window before and after, and windows longer than the retention still
count the deleted hours (the rollup keeps them); `--dry-run` changes nothing."""

from __future__ import annotations

import json

from smsrelay.service.operations import row_retention
from tests.support.incident import cli, stage_geo_and_unreachable
from tests.system.test_runbook_sql import runbook_sql

QUERIES = ("1. Check recent message delivery status", "2. Get specific failures", "4. Check by org",
           "4. Retry failed messages")


def stage_expired(stack, org: dict, n: int) -> None:
    """n failed and delivered messages 30 days and 2–4 hours old (past a 30-day retention, within a
    31-day window by whole hours), with their callbacks."""
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "twilioSid",
                                  "metadata", "createdAt")
        SELECT 'msg_expired_' || g, %(org)s, 'outbound', CASE WHEN g %% 3 = 0 THEN 'failed' ELSE 'delivered' END,
               %(number)s, '+1415555' || lpad(g::text, 4, '0'), 'old', 'SMexpired' || g,
               CASE WHEN g %% 3 = 0 THEN '{"twilioErrorCode": "30008", "twilioErrorMessage": "Unknown error"}'::jsonb
                    ELSE '{}'::jsonb END,
               now() - interval '30 days 2 hours' - g * interval '1 minute'
        FROM generate_series(1, %(n)s) g""", {"org": org["id"], "number": org["numbers"][0], "n": n})
    stack.sql("""
        INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "payload", "receivedAt")
        SELECT "id", "twilioSid", "status", '{}'::jsonb, "createdAt" FROM "MessageLog" WHERE "id" LIKE 'msg_expired_%%'""")


def answers(stack, monkeypatch) -> dict:
    out: dict = {}
    sql = runbook_sql()
    for heading in QUERIES:
        out[heading] = stack.sql(sql[heading])
    for args in (("incident", "status"), ("incident", "failures"), ("incident", "orgs"), ("incident", "errors"),
                 ("incident", "status", "--since", "7d"), ("incident", "orgs", "--since", "7d"),
                 ("incident", "status", "--since", "31d")):
        result = cli(stack, monkeypatch, *args, "--json")
        assert result.exit_code == 0, (args, result.output)
        body = json.loads(result.stdout)
        body.pop("window", None)  # its bounds are the clock's
        out[" ".join(args)] = body
    diagnosis = json.loads(cli(stack, monkeypatch, "incident", "diagnose", "--json").stdout)
    out["diagnose"] = [(c["cause"], c["orgs"], c["numbers"], c["codes"], c["state"]) for c in diagnosis["causes"]]
    return out


def test_retention_run__runbook_and_incident_answers_unchanged_for_the_kept_window(stack, monkeypatch, tmp_path):
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    stage_geo_and_unreachable(stack, a, b, geo_to=["+14155552900"])
    stage_expired(stack, a, 90)
    before = answers(stack, monkeypatch)
    assert {r["status"]: r["count"] for r in before["1. Check recent message delivery status"]} == {
        "delivered": 6, "undelivered": 2, "failed": 1}
    assert before["incident status --since 31d"]["total"] == 9 + 90, "the expired history is counted"

    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "30")
    monkeypatch.setenv("MESSAGE_EXPORT_DIR", str(tmp_path))
    dry = cli(stack, monkeypatch, "retention", "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: 90 messages" in dry.stdout
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "id" LIKE \'msg_expired_%%\'')[0]["n"] == 90
    assert not list(tmp_path.iterdir()), "a dry run exports nothing"

    done = cli(stack, monkeypatch, "retention", "run")
    assert done.exit_code == 0, done.output
    assert "deleted 90 messages" in done.stdout and "with 90 callbacks" in done.stdout
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "id" LIKE \'msg_expired_%%\'')[0]["n"] == 0
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent" WHERE "messageId" LIKE \'msg_expired_%%\'')[0]["n"] == 0
    assert len(row_retention.read_export(tmp_path, a["id"])) == 90

    monkeypatch.delenv("MESSAGE_RETENTION_DAYS")
    monkeypatch.delenv("MESSAGE_EXPORT_DIR")
    after = answers(stack, monkeypatch)
    assert after == before


def test_retention_run__unset_is_refused_with_one_line(stack, monkeypatch):
    monkeypatch.delenv("MESSAGE_RETENTION_DAYS", raising=False)
    result = cli(stack, monkeypatch, "retention", "run")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "MESSAGE_RETENTION_DAYS is not set" in lines[0], result.output
