"""Mitigations from the CLI and the admin API: audited with actor and reason, holding messages
(never dropping them) until lifted."""

from __future__ import annotations

import json

from tests.support.incident import NUMBERS, cli, diagnose, make_orgs, recipient, send
from tests.support.waiting import wait_until

TOKEN = "admin-secret-token"


def _admin(stack, operator="alice"):
    c = stack.client(TOKEN)
    c.headers["X-Operator"] = operator
    return c


def test_admin_api__disable_holds_enable_releases_and_both_are_audited(make_stack):
    stack = make_stack(settings_overrides={"admin_api_token": TOKEN})
    a, b = make_orgs(stack, NUMBERS[:2])
    with _admin(stack) as admin:
        r = admin.post(f"/admin/v1/orgs/{a['id']}/disable", json={"reason": "carrier filtering"})
        assert r.status_code == 200, r.text
        assert r.json()["smsDisabled"] is True
        held = send(stack, a, recipient(1))
        other = send(stack, b, recipient(2))
        stack.wait_status(other, "delivered")
        wait_until(lambda: (stack.message(held)["metadata"].get("hold") or {}).get("reason") == "org_disabled",
                   what="message held")
        stalled = next(c for c in diagnose(stack)["causes"] if c["cause"] == "pipeline_stalled")
        assert stalled["orgs"] == [a["id"]] and f"smsrelay org enable {a['id']}" in stalled["actions"]

        assert admin.post(f"/admin/v1/orgs/{a['id']}/enable", json={"reason": "fixed"}).status_code == 200
        stack.wait_status(held, "delivered")
        r = admin.post(f"/admin/v1/orgs/{a['id']}/throttle", json={"perMinute": 5})
        assert r.json()["maxMessagesPerMinute"] == 5
    audit = stack.sql("""SELECT "actor", "reason", "after"->>'smsDisabled' AS disabled,
                                "after"->>'maxMessagesPerMinute' AS rate
                         FROM "AuditLog" WHERE "orgId" = %s AND "action" = 'update' ORDER BY "id" """, (a["id"],))
    assert [(x["actor"], x["reason"], x["disabled"], x["rate"]) for x in audit] == [
        ("admin:alice", "carrier filtering", "true", None),
        ("admin:alice", "fixed", "false", None),
        ("admin:alice", None, "false", "5"),
    ]


def test_admin_api__pause_resume_and_bad_input(make_stack):
    stack = make_stack(settings_overrides={"admin_api_token": TOKEN})
    (a,) = make_orgs(stack, NUMBERS[:1])
    with stack.client() as anonymous:
        assert anonymous.post("/admin/v1/sms/pause").status_code == 403
    with _admin(stack, "bob") as admin:
        assert admin.post("/admin/v1/sms/pause", json={"reason": "provider outage"}).status_code == 200
        assert admin.get("/admin/v1/sms/status").json()["paused"] is True
        held = send(stack, a, recipient(1))
        wait_until(lambda: stack.message(held)["metadata"].get("hold"), what="message held by the pause")
        assert admin.post("/admin/v1/sms/resume").status_code == 200
        stack.wait_status(held, "delivered")

        for path, body, status, code in (
            (f"/admin/v1/orgs/{a['id']}/throttle", {"perMinute": 0}, 422, "invalid_rate"),
            ("/admin/v1/orgs/org_missing/disable", {}, 404, "org_not_found"),
            (f"/admin/v1/orgs/{a['id']}/throttle", {"perMinute": "fast"}, 422, "invalid_request"),
        ):
            r = admin.post(path, json=body)
            assert r.status_code == status and r.json()["error"]["code"] == code, r.text
        r = admin.get("/admin/v1/incident/diagnose", params={"since": "forever"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_since"
        assert admin.get("/admin/v1/incident/diagnose").json()["causes"]
    actions = stack.sql("""SELECT "action", "actor", "reason" FROM "AuditLog" WHERE "tableName" = 'SystemSetting'
                           ORDER BY "id" """)
    assert [x["actor"] for x in actions] == ["admin:bob", "admin:bob"]
    assert actions[0]["reason"] == "provider outage"
    after = stack.sql("""SELECT "after"->'value'->>'paused' AS paused FROM "AuditLog"
                         WHERE "tableName" = 'SystemSetting' ORDER BY "id" """)
    assert [x["paused"] for x in after] == ["true", "false"]


def test_cli__org_disable_enable_throttle_and_sms_pause(stack, monkeypatch):
    (a,) = make_orgs(stack, NUMBERS[:1])
    r = cli(stack, monkeypatch, "org", "disable", a["id"], "--reason", "spam complaints", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["smsDisabled"] is True
    assert cli(stack, monkeypatch, "org", "throttle", a["id"], "--per-minute", "10").exit_code == 0
    assert cli(stack, monkeypatch, "org", "throttle", a["id"], "--off").exit_code == 0
    assert cli(stack, monkeypatch, "org", "enable", a["id"]).exit_code == 0
    rows = stack.sql("""SELECT "actor", "reason", "after"->>'smsDisabled' AS d, "after"->>'maxMessagesPerMinute' AS m
                        FROM "AuditLog" WHERE "orgId" = %s AND "action" = 'update' ORDER BY "id" """, (a["id"],))
    assert [(x["d"], x["m"]) for x in rows] == [("true", None), ("true", "10"), ("true", None), ("false", None)]
    assert rows[0]["reason"] == "spam complaints" and all(x["actor"].startswith("cli") for x in rows)

    assert cli(stack, monkeypatch, "sms", "pause", "--reason", "drill").exit_code == 0
    status = cli(stack, monkeypatch, "sms", "status", "--json")
    assert json.loads(status.stdout)["paused"] is True
    assert cli(stack, monkeypatch, "sms", "resume").exit_code == 0
    assert json.loads(cli(stack, monkeypatch, "sms", "status", "--json").stdout)["paused"] is False

    for args in (["org", "throttle", a["id"]], ["org", "throttle", a["id"], "--per-minute", "0"],
                 ["org", "disable", "org_missing"]):
        r = cli(stack, monkeypatch, *args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
