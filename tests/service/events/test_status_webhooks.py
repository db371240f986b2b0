"""Orgs hear back: a message's status changes reach the org's endpoint as signed events, which
the receiver's documented snippets (docs/api.md: Python, and JavaScript run by node) verify."""

from __future__ import annotations

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.event_receiver import EventReceiver, verify_with_node, verify_with_python_snippet
from tests.support.waiting import wait_until

TO = "+14155552671"
FAST = {"webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.2, "webhook_poll_seconds": 0.05}


@pytest.fixture
def receiver():
    server = EventReceiver().start()
    yield server
    server.stop()


def _statuses(events):
    return [e["data"]["status"] for e in sorted(events, key=lambda e: e["data"]["sequence"])]


def test_status_url__queued_sent_delivered_events_verified_by_the_documented_snippets(make_stack, receiver, tmp_path):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("Acme")
    with stack.client(org["apiKey"]) as api:
        assert api.patch("/v1/webhooks", json={"statusUrl": receiver.url}).status_code == 200
        sent = api.post("/v1/messages", json={"to": TO, "body": "Your order is ready"})
    assert sent.status_code == 202
    message_id = sent.json()["id"]
    wait_until(lambda: "delivered" in _statuses(receiver.events(message_id)), timeout=20,
               what=lambda: f"a delivered event (got {_statuses(receiver.events(message_id))})")
    events = sorted(receiver.events(message_id), key=lambda e: e["data"]["sequence"])
    statuses = [e["data"]["status"] for e in events]
    assert statuses[0] == "queued" and statuses.index("sent") < statuses.index("delivered"), statuses
    assert [e["data"]["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert [e["data"]["previousStatus"] for e in events] == [None, *statuses[:-1]]
    delivered = events[-1]
    assert delivered["type"] == "message.status" and delivered["orgId"] == org["id"]
    assert delivered["data"]["message"]["to"] == TO and delivered["data"]["message"]["twilioSid"].startswith("SM")
    assert delivered["data"]["error"] is None
    for hit in receiver.delivered():
        header = hit.headers["smsrelay-signature"]
        assert verify_with_python_snippet(org["signingSecret"], header, hit.body)
        assert verify_with_node(org["signingSecret"], header, hit.body, tmp_path)
    hit = receiver.delivered()[-1]
    # A tampered body, or another secret, does not verify with the independent implementation.
    assert not verify_with_node(org["signingSecret"], hit.headers["smsrelay-signature"], hit.body + b" ", tmp_path)
    assert not verify_with_node("whsec_other", hit.headers["smsrelay-signature"], hit.body, tmp_path)


def test_failing_message__undelivered_event_with_code_meaning_and_retryable(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("Acme")
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("unreachable", number=TO)
    with stack.client(org["apiKey"]) as api:
        # The message's own statusCallback, with no org-level URL at all.
        sent = api.post("/v1/messages", json={"to": TO, "body": "hello", "statusCallback": receiver.url})
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]
    wait_until(lambda: "undelivered" in _statuses(receiver.events(message_id)), timeout=20,
               what=lambda: f"an undelivered event (got {_statuses(receiver.events(message_id))})")
    last = sorted(receiver.events(message_id), key=lambda e: e["data"]["sequence"])[-1]
    assert last["data"]["status"] == "undelivered"
    assert last["data"]["error"] == {"code": "30003", "meaning": last["data"]["error"]["meaning"], "retryable": False}
    assert "unreachable" in last["data"]["error"]["meaning"].lower()


def test_invalid_status_callback__422_naming_the_field(stack):
    org = stack.create_org("Acme")
    with stack.client(org["apiKey"]) as api:
        answer = api.post("/v1/messages", json={"to": TO, "body": "hi", "statusCallback": "ftp://example.com/x"})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "invalid_webhook_url"
    assert answer.json()["error"]["field"] == "statusCallback"


def test_batch_items__each_its_own_status_callback(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("Acme")
    with stack.client(org["apiKey"]) as api:
        answer = api.post("/v1/messages:batch", json={"messages": [
            {"to": TO, "body": "one", "statusCallback": receiver.url},
            {"to": "+14155552672", "body": "two"}]})
    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    first, second = (r["id"] for r in answer.json()["results"])
    wait_until(lambda: "delivered" in _statuses(receiver.events(first)), timeout=20, what="the first item's events")
    stack.wait_status(second, "delivered")
    assert receiver.events(second) == []
    assert stack.sql('SELECT count(*) AS n FROM "WebhookEvent" WHERE "messageId" = %s AND "state" = \'none\'',
                     (second,))[0]["n"] >= 3  # in the feed, with nowhere to be delivered
