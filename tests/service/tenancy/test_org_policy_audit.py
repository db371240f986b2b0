"""Every change to "OrgSettings" (and to the runtime kill switch) lands in "AuditLog" through a
database trigger — the runbook's raw SQL as much as our CLI and admin API, which name the actor."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.runbook import runbook_mitigations, runbook_sql
from tests.support.worker_processes import run_cli

ADMIN = {"Authorization": "Bearer admin-t0ken", "X-Operator": "alice"}


def _audit(stack, table: str = "OrgSettings", org_id: str | None = None) -> list[dict]:
    return stack.sql('SELECT * FROM "AuditLog" WHERE "tableName" = %s AND "action" <> \'insert\' '
                     'AND (%s::text IS NULL OR "orgId" = %s) ORDER BY "id"', (table, org_id, org_id))


@pytest.fixture
def quiet_stack(make_stack):
    return make_stack(start_worker=False, settings_overrides={"admin_api_token": "admin-t0ken"})


@pytest.mark.parametrize("column,before,after", [("smsDisabled", False, True), ("maxMessagesPerMinute", None, 5)])
def test_runbook_mitigation_sql__run_verbatim_is_audited(quiet_stack, column, before, after):
    stack = quiet_stack
    org = stack.create_org("Acme")
    other = stack.create_org("Other", numbers=("+15017122662",))
    started = datetime.now(timezone.utc)
    stack.sql(runbook_sql(column, org["id"]))

    rows = _audit(stack)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["orgId"] == org["id"] and row["action"] == "update"
    assert row["actor"].startswith("sql:")
    assert row["before"][column] == before and row["after"][column] == after
    assert started - timedelta(seconds=5) <= row["createdAt"] <= datetime.now(timezone.utc) + timedelta(seconds=5)
    assert _audit(stack, org_id=other["id"]) == []


def test_runbook_has_exactly_the_two_mitigations_we_audit():
    assert set(runbook_mitigations()) == {"smsDisabled", "maxMessagesPerMinute"}


def test_an_update_that_changes_nothing__is_not_an_audit_entry(quiet_stack):
    stack = quiet_stack
    org = stack.create_org("Acme")
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = %s', (org["id"],))
    assert _audit(stack) == []


def test_cli_policy_change__is_audited_with_the_operator_and_reason(quiet_stack):
    stack = quiet_stack
    org = stack.create_org("Acme")
    done = run_cli(stack, "org", "policy", org["id"], "--content-policy", "block", "--countries", "us,ca",
                   "--reason", "INC-42 spam filtering", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["contentPolicy"] == "block" and shown["allowedCountries"] == ["US", "CA"]
    [row] = _audit(stack)
    assert row["actor"].startswith("cli") and row["reason"] == "INC-42 spam filtering"
    assert (row["before"]["contentPolicy"], row["after"]["contentPolicy"]) == ("warn", "block")
    assert row["before"]["allowedCountries"] is None and row["after"]["allowedCountries"] == ["US", "CA"]


def test_cli_policy__bad_input_exits_non_zero_with_one_line(quiet_stack):
    stack = quiet_stack
    org = stack.create_org("Acme")
    bad = run_cli(stack, "org", "policy", org["id"], "--landline-policy", "sometimes")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "landlinePolicy must be one of" in bad.stderr
    missing = run_cli(stack, "org", "policy", "org_missing", "--content-policy", "block")
    assert missing.returncode == 2 and "org_not_found" in missing.stderr
    assert _audit(stack) == []


def test_admin_api_policy_change__is_audited_with_the_operator(quiet_stack):
    stack = quiet_stack
    org = stack.create_org("Acme")
    with stack.client() as admin:
        r = admin.patch(f"/admin/v1/orgs/{org['id']}/policy", headers=ADMIN,
                        json={"landlinePolicy": "block", "reason": "30006 spike"})
        assert r.status_code == 200, r.text
        assert admin.patch(f"/admin/v1/orgs/{org['id']}/policy", json={"landlinePolicy": "warn"}).status_code == 403
    [row] = _audit(stack)
    assert row["actor"] == "admin:alice" and row["reason"] == "30006 spike"
    assert row["after"]["landlinePolicy"] == "block"


def test_kill_switch_changes__by_cli_or_raw_sql_are_audited(quiet_stack):
    stack = quiet_stack
    assert run_cli(stack, "sms", "pause", "--reason", "drill").returncode == 0
    stack.sql("""UPDATE "SystemSetting" SET "value" = '{"paused": false}' WHERE "key" = 'sms_paused'""")
    rows = stack.sql('SELECT * FROM "AuditLog" WHERE "tableName" = \'SystemSetting\' ORDER BY "id"')
    assert [r["action"] for r in rows] == ["insert", "update"]
    assert rows[0]["actor"].startswith("cli") and rows[0]["reason"] == "drill"
    assert rows[0]["after"]["value"]["paused"] is True
    assert rows[1]["actor"].startswith("sql:") and rows[1]["after"]["value"] == {"paused": False}
