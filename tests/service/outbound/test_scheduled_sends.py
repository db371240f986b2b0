"""Scheduled sends: held by us in status `scheduled` until sendAt, then sent once by whichever
worker runs at that time (a restart in between changes nothing); cancelable until then."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.stack import build_stack
from tests.support.waiting import wait_until

TO = "+14155552671"


@pytest.fixture
def scheduling_stack(database_url):
    # The 1-minute minimum is a setting: a few seconds ahead keeps the test short.
    s = build_stack(database_url, settings_overrides={"schedule_min_seconds": 2})
    yield s
    s.stop()


def _at(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def test_scheduled__sent_once_at_its_time_across_a_worker_restart(scheduling_stack):
    stack = scheduling_stack
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        answer = api.post("/v1/messages", json={"to": TO, "body": "Your table in 10 minutes", "sendAt": _at(6)})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["status"] == "scheduled" and body["sendAt"]
        send_at = datetime.fromisoformat(body["sendAt"].replace("Z", "+00:00"))
        assert api.get("/v1/messages", params={"status": "scheduled"}).json()["messages"][0]["id"] == body["id"]
        counts = api.get("/v1/messages:scheduled").json()
        assert counts["total"] == 1 and counts["channels"][0]["channel"] == "sms"
        assert stack.sql('SELECT "dueAt" FROM "SendQueue" WHERE "messageId" = %s', (body["id"],))[0]["dueAt"] == send_at
        stack.stop_workers()  # a restart between accept and sendAt
        assert stack.message(body["id"])["status"] == "scheduled"
        stack.start_worker()
        row = stack.wait_status(body["id"], "delivered", timeout=30)
    assert row["sentAt"] >= send_at and (row["sentAt"] - send_at).total_seconds() < 10, (row["sentAt"], send_at)
    with SimulatorClient(stack.sim.url) as sim:
        assert len(sim.ledger(to=TO)) == 1


def test_scheduled__a_canceled_message_is_never_sent(scheduling_stack):
    stack = scheduling_stack
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        first = api.post("/v1/messages", json={"to": TO, "body": "cancel me", "sendAt": _at(4)}).json()
        other = api.post("/v1/messages", json={"to": "+14155550100", "body": "keep me", "sendAt": _at(4)}).json()
        canceled = api.post(f"/v1/messages/{first['id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled", canceled.text
        assert api.post(f"/v1/messages/{first['id']}/cancel").json()["status"] == "canceled"  # twice: same answer
        stack.wait_status(other["id"], "delivered", timeout=30)
        late = api.post(f"/v1/messages/{other['id']}/cancel")
        assert late.status_code == 409 and late.json()["error"]["code"] == "message_not_cancelable"
    assert stack.message(first["id"])["status"] == "canceled" and stack.message(first["id"])["twilioSid"] is None
    assert stack.sql('SELECT count(*) AS n FROM "SendQueue" WHERE "messageId" = %s', (first["id"],))[0]["n"] == 0
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.ledger(to=TO) == []


def test_scheduled__send_at_bounds_and_tenancy(scheduling_stack):
    stack = scheduling_stack
    org, stranger = stack.create_org(), stack.create_org("Other", numbers=("+15017122662",))
    with stack.client(org["apiKey"]) as api, stack.client(stranger["apiKey"]) as other:
        for send_at in (_at(0.5), _at(36 * 86400), "2030-01-01T09:00:00"):
            refused = api.post("/v1/messages", json={"to": TO, "body": "x", "sendAt": send_at})
            assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_send_at", refused.text
        mine = api.post("/v1/messages", json={"to": TO, "body": "x", "sendAt": _at(3600)}).json()
        walked = other.post(f"/v1/messages/{mine['id']}/cancel")
        assert walked.status_code == 404
        assert other.get("/v1/messages:scheduled").json() == {"total": 0, "channels": []}
    assert stack.message(mine["id"])["status"] == "scheduled"


def test_scheduled__the_kill_switch_applies_at_send_time(scheduling_stack):
    stack = scheduling_stack
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        body = api.post("/v1/messages", json={"to": TO, "body": "held at its time", "sendAt": _at(3)}).json()
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    held = wait_until(lambda: (m := stack.message(body["id"]))["metadata"].get("hold") and m, timeout=30,
                      what="the scheduled message to be held at its time")
    assert held["status"] == "queued" and held["metadata"]["hold"]["reason"] == "org_disabled"
