"""The autopilot's switches and undo from every operator surface: `smsrelay autopilot`, the admin
API and the dashboard page; each names its actor in "AuditLog", bad input is a 4xx with a code
(an exit code and one line in the CLI)."""

from __future__ import annotations

import httpx

from smsrelay.service.operations import autopilot_actions
from smsrelay.domain import autopilot as rules
from tests.support.incident import cli
from tests.web.dashboard.helpers import csrf_token, log_in, settings

TOKEN = "admin-t0ken"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "X-Operator": "alice"}


def _switches(stack) -> dict:
    rows = stack.sql("""SELECT "value" FROM "SystemSetting" WHERE "key" = 'autopilot'""")
    return rows[0]["value"]["causes"] if rows else {}


def test_admin_api__status_enable_dry_run_disable_and_unknown_cause(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"admin_api_token": TOKEN})
    with stack.client() as http:
        status = http.get("/admin/v1/autopilot", headers=ADMIN).json()
        assert {c["cause"] for c in status["causes"]} == set(rules.CAUSES)
        assert not any(c["enabled"] for c in status["causes"])  # off by default
        r = http.post("/admin/v1/autopilot/enable", headers=ADMIN, json={"causes": ["geo_permissions"], "dryRun": True})
        assert r.status_code == 200
        geo = next(c for c in r.json()["causes"] if c["cause"] == "geo_permissions")
        assert geo["enabled"] and geo["dryRun"]
        bad = http.post("/admin/v1/autopilot/enable", headers=ADMIN, json={"causes": ["weather"]})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_autopilot_cause"
        assert http.post("/admin/v1/autopilot/disable", headers=ADMIN, json={}).status_code == 200
        missing = http.post("/admin/v1/autopilot/actions/apa_nope/undo", headers=ADMIN, json={})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "autopilot_action_not_found"
        assert http.get("/admin/v1/autopilot").status_code == 403
    assert not any(s["enabled"] for s in _switches(stack).values())
    actors = [r["actor"] for r in stack.sql("""SELECT "actor" FROM "AuditLog" WHERE "tableName" = 'SystemSetting'""")]
    assert actors == ["admin:alice", "admin:alice"]


def test_cli__enable_status_undo(make_stack, monkeypatch):
    stack = make_stack(start_worker=False)
    org = stack.create_org("Acme")
    result = cli(stack, monkeypatch, "autopilot", "enable", "sender_number", "--reason", "night shift")
    assert result.exit_code == 0, result.output
    assert _switches(stack)["sender_number"]["enabled"]
    plan = rules.Plan("sender_number", "disable_org", rules.Scope("org", org["id"], org["id"]), False, "test")
    action = stack.run(lambda rt: autopilot_actions.apply(rt, plan, dry_run=False, details={}))
    assert stack.sql('SELECT "smsDisabled" FROM "OrgSettings"')[0]["smsDisabled"]
    status = cli(stack, monkeypatch, "autopilot", "status")
    assert status.exit_code == 0 and action["id"] in status.output and "autopilot undo" in status.output
    undone = cli(stack, monkeypatch, "autopilot", "undo", action["id"])
    assert undone.exit_code == 0, undone.output
    assert not stack.sql('SELECT "smsDisabled" FROM "OrgSettings"')[0]["smsDisabled"]
    again = cli(stack, monkeypatch, "autopilot", "undo", action["id"])
    assert again.exit_code != 0 and "already ended" in again.output
    unknown = cli(stack, monkeypatch, "autopilot", "enable", "weather")
    assert unknown.exit_code != 0 and "not a cause the autopilot handles" in unknown.output


def test_dashboard__autopilot_page_switches_a_cause(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=settings(tmp_path))
    with httpx.Client(base_url=stack.api_url, follow_redirects=True) as http:
        log_in(http)
        page = http.get("/dashboard/autopilot")
        assert page.status_code == 200 and "account" in page.text and "off" in page.text
        r = http.post("/dashboard/autopilot/switch", data={"csrf_token": csrf_token(page), "cause": "account",
                                                          "mode": "dry-run"})
        assert r.status_code == 200 and "on (dry run)" in r.text
    assert _switches(stack)["account"] == {**_switches(stack)["account"], "enabled": True, "dryRun": True}
    org = stack.create_org("Acme")
    plan = rules.Plan("rate_limiting", "throttle", rules.Scope("org", org["id"], org["id"]), False, "429s", per_minute=30)
    action = stack.run(lambda rt: autopilot_actions.apply(rt, plan, dry_run=False, details={}))
    with httpx.Client(base_url=stack.api_url, follow_redirects=True) as http:
        log_in(http)
        page = http.get("/dashboard/autopilot")
        assert f"throttle org {org['id']} to 30 per minute" in page.text
        r = http.post(f"/dashboard/autopilot/actions/{action['id']}/undo",
                      data={"csrf_token": csrf_token(page), "reason": "not needed"})
        assert r.status_code == 200 and f"Undone {action['id']}" in r.text
    assert stack.sql('SELECT "maxMessagesPerMinute" FROM "OrgSettings"')[0]["maxMessagesPerMinute"] is None
    assert stack.sql('SELECT "endedBy" FROM "AutopilotAction"')[0]["endedBy"] == "dashboard:ops"
