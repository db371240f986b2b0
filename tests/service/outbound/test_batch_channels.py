"""POST /v1/messages:batch carries every channel a single send does: each item's channel,
mediaUrls, contentSid/contentVariables and sendAt are checked as POST /v1/messages checks them,
a refused item answers the single send's code at its index, and the accepted ones go through
the one pipeline (MMS with its media, WhatsApp within its window or as a content template, a
scheduled one held until its sendAt)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsrelay.simulator.ledger import SimulatorClient

IMAGES = ["https://cdn.example.com/menu/front.jpg", "https://cdn.example.com/menu/back.png"]
WA_SENDER = "whatsapp:+14155238886"
WA_PERSON = "whatsapp:+14155552671"
WA_STRANGER = "whatsapp:+14155552672"
TEMPLATE = "HX" + "c" * 32


def _later(minutes: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()


def test_batch__every_channel_accepted_and_refused_as_a_single_send_would(stack):
    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound(WA_PERSON, WA_SENDER, "Table for 2?")["status"] == 200
    refused = [  # (item, the code a single send answers)
        ({"to": WA_STRANGER, "body": "Hello"}, "whatsapp_window_closed"),
        ({"to": "+14155550101", "body": "x", "mediaUrls": ["http://cdn.example.com/a.jpg"]}, "invalid_media"),
        ({"to": "+14155550102", "body": "x", "mediaUrls": ["https://cdn.example.com/app.exe"]},
         "unsupported_media_file"),
        ({"to": WA_PERSON, "body": "x", "mediaUrls": IMAGES}, "too_many_media"),
        ({"to": "+14155550103", "body": "x", "sendAt": _later(0.2)}, "invalid_send_at"),
        ({"to": "+14155550104", "body": "x", "contentVariables": {"1": "Ada"}}, "invalid_content"),
        ({"to": "+14155550105", "body": "x", "contentSid": "HX123"}, "invalid_content"),
        ({"to": WA_PERSON, "body": "x", "channel": "mms"}, "invalid_channel"),
    ]
    accepted = [
        {"to": "+14155550110", "body": "plain sms"},
        {"to": "+14155550111", "body": "Tonight's menu", "mediaUrls": IMAGES},
        {"to": WA_PERSON, "body": "Yes, at 8pm"},
        {"to": WA_STRANGER, "contentSid": TEMPLATE, "contentVariables": {"1": "8pm"}},
        {"to": "+14155550112", "body": "Your table is ready", "sendAt": _later(30)},
    ]
    items = [item for item, _ in refused] + accepted
    with stack.client(org["apiKey"]) as api:
        answer = api.post("/v1/messages:batch", json={"messages": items}, headers={"Idempotency-Key": "b-1"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["accepted"], body["rejected"]) == (len(accepted), len(refused))
        results = body["results"]
        for i, (item, code) in enumerate(refused):
            assert results[i]["index"] == i and results[i]["error"]["code"] == code, (item, results[i])
            # The same item alone answers the same code (nothing of it is stored either way).
            single = api.post("/v1/messages", json=item)
            assert single.status_code == 422 and single.json()["error"]["code"] == code, (item, single.text)
        sms, mms, reply, templated, scheduled = results[len(refused):]
        assert sms["channel"] == "sms" and sms["status"] == "queued"
        assert mms["channel"] == "mms" and mms["mediaUrls"] == IMAGES and mms["segments"] == 1
        assert reply["channel"] == "whatsapp" and reply["from"] == WA_SENDER and reply["to"] == WA_PERSON
        assert templated["channel"] == "whatsapp" and templated["to"] == WA_STRANGER
        assert scheduled["status"] == "scheduled" and scheduled["sendAt"]
        # A replay answers the same; the same key with other channel fields is another request.
        assert api.post("/v1/messages:batch", json={"messages": items}, headers={"Idempotency-Key": "b-1"}).json() == body
        changed = [*items[:-1], {**items[-1], "sendAt": _later(31)}]
        reused = api.post("/v1/messages:batch", json={"messages": changed}, headers={"Idempotency-Key": "b-1"})
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"

    stack.wait_status(sms["id"], "delivered")
    stack.wait_status(mms["id"], "delivered")
    stack.wait_status(reply["id"], "read")
    stack.wait_status(templated["id"], "read")
    rows = {r["id"]: r for r in stack.sql('SELECT "id", "channel", "status", "sendAt", "metadata" FROM "MessageLog" '
                                          'WHERE "direction" = \'outbound\'')}
    assert len(rows) == len(accepted)
    assert rows[mms["id"]]["channel"] == "mms" and rows[mms["id"]]["metadata"]["mediaUrls"] == IMAGES
    assert rows[templated["id"]]["metadata"]["contentSid"] == TEMPLATE
    assert rows[templated["id"]]["metadata"]["contentVariables"] == {"1": "8pm"}
    assert rows[scheduled["id"]]["status"] == "scheduled" and rows[scheduled["id"]]["sendAt"] is not None
    with SimulatorClient(stack.sim.url) as sim:
        ledger = {m["to"]: m for m in sim.ledger()}
    assert ledger["+14155550111"]["num_media"] == 2
    assert "+14155550112" not in ledger  # held by us until its sendAt


def test_batch__whatsapp_needs_a_whatsapp_sender_per_item(stack):
    org = stack.create_org(numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        body = api.post("/v1/messages:batch", json={"messages": [
            {"to": WA_PERSON, "body": "hi"}, {"to": "+14155550110", "body": "sms goes"}]}).json()
    assert body["results"][0]["error"]["code"] == "no_channel_sender"
    assert body["results"][1]["channel"] == "sms" and body["accepted"] == 1
