"""Accepting and reading messages through the API: idempotency keys, tenant isolation, input
validation, the 1600-character limit and listing."""

from __future__ import annotations

import threading

import pytest

from smsrelay.simulator.ledger import SimulatorClient

TO = "+14155552671"


def _send(stack, key, **body):
    with stack.client(key) as api:
        return api.post("/v1/messages", json={"to": TO, "body": "hello", **body})


def test_idempotency_key__same_body_replays_first_response_and_sends_once(stack):
    org = stack.create_org()
    headers = {"Idempotency-Key": "order-42"}
    with stack.client(org["apiKey"]) as api:
        first = api.post("/v1/messages", json={"to": TO, "body": "once"}, headers=headers)
        second = api.post("/v1/messages", json={"to": TO, "body": "once"}, headers=headers)
        different = api.post("/v1/messages", json={"to": TO, "body": "twice"}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert different.status_code == 422 and different.json()["error"]["code"] == "idempotency_key_reused"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 1
    stack.wait_status(first.json()["id"], "delivered")
    with SimulatorClient(stack.sim.url) as sim:
        assert len(sim.ledger(to=TO)) == 1


def test_idempotency_key__concurrent_requests_create_one_message(stack):
    org = stack.create_org()
    results = []

    def post():
        with stack.client(org["apiKey"]) as api:
            results.append(api.post("/v1/messages", json={"to": TO, "body": "race"}, headers={"Idempotency-Key": "k"}))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in results} == {202}
    assert len({r.json()["id"] for r in results}) == 1
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 1


def test_cross_org_access__is_404_never_data(stack):
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    msg = _send(stack, a["apiKey"]).json()
    with stack.client(b["apiKey"]) as api:
        r = api.get(f"/v1/messages/{msg['id']}")
        listed = api.get("/v1/messages").json()["messages"]
    assert r.status_code == 404 and r.json() == {"error": {"code": "not_found", "message": "No such message."}}
    assert listed == []
    with stack.client(a["apiKey"]) as api:
        assert api.get(f"/v1/messages/{msg['id']}").status_code == 200


@pytest.mark.parametrize("body,status,code", [
    ({"to": "12", "body": "hi"}, 422, "invalid_to_number"),
    ({"to": "+999123", "body": "hi"}, 422, "invalid_to_number"),
    ({"to": TO, "body": ""}, 422, "empty_body"),
    ({"to": TO, "body": "   "}, 422, "empty_body"),
    ({"to": TO, "body": "x" * 1601}, 422, "body_too_long"),
    ({"to": TO}, 422, "invalid_request"),  # no body, media, template or contentSid: a missing field (docs/api.md)
    ({"to": TO, "body": "hi", "from": "+15550000000"}, 422, "invalid_from_number"),
])
def test_invalid_input__is_4xx_json_and_stores_nothing(stack, body, status, code):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
    assert stack.sql('SELECT count(*) AS n FROM "SendQueue"')[0]["n"] == 0


def test_1600_characters__is_accepted_with_segments_counted(stack):
    org = stack.create_org()
    r = _send(stack, org["apiKey"], body="a" * 1600)
    assert r.status_code == 202 and r.json()["segments"] == 11


def test_list_messages__filters_by_status_and_recipient(stack):
    org = stack.create_org()
    first = _send(stack, org["apiKey"]).json()
    with stack.client(org["apiKey"]) as api:
        api.post("/v1/messages", json={"to": "+14155550199", "body": "other"})
    stack.wait_status(first["id"], "delivered")
    with stack.client(org["apiKey"]) as api:
        by_to = api.get("/v1/messages", params={"to": TO}).json()["messages"]
        delivered = api.get("/v1/messages", params={"status": "delivered", "to": TO}).json()["messages"]
        bad = api.get("/v1/messages", params={"since": "yesterday"})
    assert [m["id"] for m in by_to] == [first["id"]]
    assert [m["id"] for m in delivered] == [first["id"]]
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
