"""The global kill switch: FEATURE_SMS_ENABLED=false plus a restart (the runbook's way), and the
runtime pause (`smsrelay sms pause|resume|status`, admin API) that needs no restart. Either way
the API keeps answering 202, nothing reaches Twilio, and every held message goes out once."""

from __future__ import annotations

import json

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.traffic import assert_each_sent_once, outbound_ledger, statuses
from tests.support.worker_processes import WorkerProcesses, run_cli
from tests.support.waiting import wait_until

NUMBER = "+15017122661"
ADMIN = {"Authorization": "Bearer admin-t0ken", "X-Operator": "alice"}


def _held_for(stack, ids: list[str], reason: str) -> bool:
    return all((r["metadata"].get("hold") or {}).get("reason") == reason for r in statuses(stack, ids).values())


def test_feature_sms_disabled__holds_everything_and_a_restart_with_it_enabled_sends_each_once(make_stack, tmp_path):
    stack = make_stack(start_worker=False)
    org = stack.create_org("Acme", numbers=(NUMBER,))
    bodies = [f"kill-{i}" for i in range(10)]
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        with WorkerProcesses(stack, tmp_path / "off", count=2, env={"FEATURE_SMS_ENABLED": "false"}):
            responses = [api.post("/v1/messages", json={"to": "+14155552671", "body": b}) for b in bodies]
            assert [r.status_code for r in responses] == [202] * len(bodies)
            ids = [r.json()["id"] for r in responses]
            wait_until(lambda: _held_for(stack, ids, "kill_switch"), timeout=20, what="every message held")
            detail = api.get(f"/v1/messages/{ids[0]}").json()
            assert detail["status"] == "queued" and detail["held"]["reason"] == "kill_switch"
            assert outbound_ledger(sim, NUMBER) == []

        assert outbound_ledger(sim, NUMBER) == []
        with WorkerProcesses(stack, tmp_path / "on", count=2, env={"FEATURE_SMS_ENABLED": "true"}):
            wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, ids).values()),
                       timeout=30, what="every held message delivered after the restart")
            assert_each_sent_once(outbound_ledger(sim, NUMBER), bodies)


def test_runtime_pause__holds_without_restart_and_resume_releases_each_once(make_stack):
    stack = make_stack(settings_overrides={"admin_api_token": "admin-t0ken"})
    org = stack.create_org("Acme", numbers=(NUMBER,))
    paused = run_cli(stack, "sms", "pause", "--reason", "carrier incident drill")
    assert paused.returncode == 0, paused.stderr
    bodies = [f"pause-{i}" for i in range(5)]
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api, stack.client() as admin:
        ids = [api.post("/v1/messages", json={"to": "+14155552671", "body": b}).json()["id"] for b in bodies]
        wait_until(lambda: _held_for(stack, ids, "paused"), timeout=15, what="every message held by the pause")
        assert outbound_ledger(sim, NUMBER) == []

        status = run_cli(stack, "sms", "status", "--json")
        assert status.returncode == 0, status.stderr
        data = json.loads(status.stdout)
        assert data["paused"] is True and data["held"] == {"paused": 5}
        assert data["pause"]["reason"] == "carrier incident drill" and data["pause"]["by"].startswith("cli")

        # Replies are never held: a customer's inbound message is stored while sends are paused.
        assert sim.send_inbound("+14155552671", NUMBER, "Running 10 min late")["status"] == 200
        inbound = stack.sql('SELECT "content" FROM "MessageLog" WHERE "direction" = \'inbound\'')
        assert [r["content"] for r in inbound] == ["Running 10 min late"]

        over_http = admin.get("/admin/v1/guardrails", headers=ADMIN).json()
        assert over_http["paused"] is True and over_http["heldTotal"] == 5
        assert admin.get("/admin/v1/guardrails").status_code == 403

        r = admin.post("/admin/v1/sms/resume", headers=ADMIN, json={"reason": "drill over"})
        assert r.status_code == 200, r.text
        wait_until(lambda: all(r["status"] == "delivered" for r in statuses(stack, ids).values()),
                   timeout=20, what="held messages delivered after resume")
        assert_each_sent_once(outbound_ledger(sim, NUMBER), bodies)
        assert "not paused" in run_cli(stack, "sms", "status").stdout


def test_admin_pause__holds_and_needs_the_admin_token(make_stack):
    stack = make_stack(settings_overrides={"admin_api_token": "admin-t0ken"})
    org = stack.create_org("Acme", numbers=(NUMBER,))
    with stack.client() as admin, stack.client(org["apiKey"]) as api, SimulatorClient(stack.sim.url) as sim:
        assert admin.post("/admin/v1/sms/pause", headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert admin.post("/admin/v1/sms/pause", headers={"Authorization": f"Bearer {org['apiKey']}"}).status_code == 403
        r = admin.post("/admin/v1/sms/pause", headers=ADMIN, json={"reason": "spam wave"})
        assert r.status_code == 200 and r.json()["paused"] is True
        message_id = api.post("/v1/messages", json={"to": "+14155552671", "body": "held"}).json()["id"]
        wait_until(lambda: _held_for(stack, [message_id], "paused"), timeout=15, what="held by the admin pause")
        assert outbound_ledger(sim, NUMBER) == []
        resumed = run_cli(stack, "sms", "resume")
        assert resumed.returncode == 0, resumed.stderr
        stack.wait_status(message_id, "delivered")
