"""Messaging core end to end: API → "MessageLog" + job → worker → official SDK → simulator →
signed status callbacks → monotonic status."""

from __future__ import annotations

from smsrelay.simulator.ledger import SimulatorClient


def test_send__reaches_delivered_via_simulator(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json={"to": "+14155552671", "body": "Your table is ready"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["segments"] == 1 and body["encoding"] == "GSM-7"
    assert body["id"].startswith("msg_")

    row = stack.wait_status(body["id"], "delivered")
    assert row["twilioSid"].startswith("SM")
    assert row["direction"] == "outbound" and row["channel"] == "sms" and row["orgId"] == org["id"]
    assert row["from"] == "+15017122661" and row["to"] == "+14155552671"

    with stack.client(org["apiKey"]) as api:
        detail = api.get(f"/v1/messages/{body['id']}").json()
    assert detail["status"] == "delivered"
    assert [h["status"] for h in detail["history"]] == ["sent", "delivered"]

    with SimulatorClient(stack.sim.url) as sim:
        ledger = sim.ledger(to="+14155552671")
    assert [m["sid"] for m in ledger] == [row["twilioSid"]]
