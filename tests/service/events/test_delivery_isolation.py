"""At least once, in order, isolated: a receiver that keeps failing gets every event in sequence
once it recovers; one that hangs does not slow another org's deliveries."""

from __future__ import annotations

import time

import pytest

from tests.support.event_receiver import EventReceiver
from tests.support.waiting import wait_until

FAST = {"webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.3, "webhook_poll_seconds": 0.05,
        "webhook_failing_after": 3}


@pytest.fixture
def receivers():
    made = []

    def make(**kwargs):
        server = EventReceiver(**kwargs).start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def test_receiver_failing_then_recovering__gets_every_event_in_sequence_order(make_stack, receivers):
    # "500 for ten minutes" compressed: backoff of 50 ms … 300 ms, and the receiver answers 500
    # until every message has settled and each endpoint attempt has failed several times.
    down = receivers(status=500)
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("Acme")
    with stack.client(org["apiKey"]) as api:
        assert api.patch("/v1/webhooks", json={"statusUrl": down.url}).status_code == 200
        ids = [api.post("/v1/messages", json={"to": f"+1415555{2671 + i:04d}", "body": f"n{i}"}).json()["id"]
               for i in range(5)]
    for message_id in ids:
        stack.wait_status(message_id, "delivered")
    wait_until(lambda: len(down.hits) >= 20, timeout=20, what="repeated failed attempts")
    with stack.client(org["apiKey"]) as api:
        endpoint = api.get("/v1/webhooks").json()["endpoints"][0]
    assert endpoint["state"] == "failing" and endpoint["consecutiveFailures"] >= 3
    assert down.delivered() == []
    # While it fails, a message's later events wait behind its first: only sequence 1 was tried.
    assert {h.event["data"]["sequence"] for h in down.hits} == {1}

    down.status = 200
    expected = {r["messageId"]: r["n"] for r in stack.sql(
        'SELECT "messageId", count(*) AS n FROM "WebhookEvent" WHERE "orgId" = %s GROUP BY 1', (org["id"],))}
    wait_until(lambda: all(len(down.events(m)) >= expected[m] for m in ids), timeout=30,
               what=lambda: f"every event after recovery ({len(down.delivered())} delivered)")
    for message_id in ids:
        received = [e["data"]["sequence"] for e in down.events(message_id)]
        assert received == list(range(1, expected[message_id] + 1)), (message_id, received)
        assert [e["data"]["status"] for e in down.events(message_id)][-1] == "delivered"
    with stack.client(org["apiKey"]) as api:
        assert api.get("/v1/webhooks").json()["endpoints"][0]["state"] == "ok"
        log = api.get("/v1/webhooks/deliveries", params={"limit": 200}).json()["deliveries"]
    assert {d["state"] for d in log} == {"delivered"}
    first = next(d for d in log if d["sequence"] == 1)
    with stack.client(org["apiKey"]) as api:
        detail = api.get(f"/v1/webhooks/deliveries/{first['eventId']}").json()
    outcomes = [a["outcome"] for a in detail["attemptLog"]]
    assert outcomes[-1] == "delivered" and set(outcomes[:-1]) == {"http_error"} and len(outcomes) >= 2
    assert all(a["statusCode"] == 500 and a["latencyMs"] >= 0 for a in detail["attemptLog"][:-1])


def test_hanging_receiver__another_orgs_deliveries_are_not_slowed(make_stack, receivers):
    hanging, healthy = receivers(hang=True), receivers()
    # Each attempt to the hanging endpoint holds its slot for the whole 30 s deadline.
    stack = make_stack(settings_overrides={**FAST, "webhook_timeout_seconds": 30, "webhook_per_org_concurrency": 2,
                                           "webhook_concurrency": 4})
    slow = stack.create_org("Slow", numbers=("+15017122661",))
    other = stack.create_org("Other", numbers=("+15017122662",))
    for org, url in ((slow, hanging.url), (other, healthy.url)):
        with stack.client(org["apiKey"]) as api:
            assert api.patch("/v1/webhooks", json={"statusUrl": url}).status_code == 200
    with stack.client(slow["apiKey"]) as api:
        for i in range(10):
            assert api.post("/v1/messages", json={"to": f"+1415555{3000 + i}", "body": f"s{i}"}).status_code == 202
    wait_until(lambda: len(hanging.hits) >= 2, timeout=15, what="the slow org's deliveries to hang")

    started = time.monotonic()
    with stack.client(other["apiKey"]) as api:
        message_id = api.post("/v1/messages", json={"to": "+14155552671", "body": "hi"}).json()["id"]
    wait_until(lambda: "delivered" in [e["data"]["status"] for e in healthy.events(message_id)], timeout=20,
               what="the other org's delivered event")
    elapsed = time.monotonic() - started
    print(f"\nother org: queued to its delivered event at its endpoint in {elapsed:.2f} s "
          f"while {len(hanging.hits)} deliveries hang on the slow org's endpoint (deadline 30 s)")
    # Every one of the slow org's attempts is still hanging: the other org did not wait for them.
    assert len(hanging.hits) == 2, "the slow org got more than its per-org cap of slots"
    assert elapsed < 15, f"{elapsed:.1f} s: the other org waited for the slow org's deadline"


def test_address_refused__event_failed_at_once_never_retried(make_stack, receivers):
    receiver = receivers()
    # As with real Twilio: an org's URL on loopback is refused (SSRF), before any connection.
    stack = make_stack(settings_overrides={**FAST, "webhook_allow_private_networks": False})
    org = stack.create_org("Acme")
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        event = api.post("/v1/webhooks/test").json()["eventId"]
        detail = wait_until(lambda: (d := api.get(f"/v1/webhooks/deliveries/{event}").json())["state"] == "failed" and d,
                            timeout=15, what="the refused event")
    assert [a["outcome"] for a in detail["attemptLog"]] == ["refused"]
    assert "loopback" in detail["lastError"] and receiver.hits == []
