"""An org manages its webhooks with its own key; another org's key sees none of it (404)."""

from __future__ import annotations

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.event_receiver import EventReceiver, verify_with_python_snippet
from tests.support.waiting import wait_until

FAST = {"webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.2, "webhook_poll_seconds": 0.05}
OWN, OTHER = "+15017122661", "+15017122662"


@pytest.fixture
def receiver():
    server = EventReceiver().start()
    yield server
    server.stop()


def test_every_route__another_orgs_key_gets_404_or_sees_nothing(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    a = stack.create_org("A", numbers=(OWN,))
    b = stack.create_org("B", numbers=(OTHER,))
    with stack.client(a["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        test = api.post("/v1/webhooks/test")
        assert test.status_code == 202
        event_id = test.json()["eventId"]
        wait_until(lambda: receiver.delivered(), timeout=15, what="the test event")
    with stack.client(b["apiKey"]) as other:
        for method, path in (("GET", f"/v1/webhooks/deliveries/{event_id}"),
                             ("POST", f"/v1/webhooks/deliveries/{event_id}:replay")):
            answer = other.request(method, path)
            assert answer.status_code == 404 and answer.json()["error"]["code"] == "event_not_found", (path, answer.text)
        assert other.get("/v1/webhooks/deliveries").json()["deliveries"] == []
        assert other.get("/v1/events").json()["events"] == []
        assert other.get("/v1/webhooks").json()["statusUrl"] is None
        # B's test and rotation touch only B.
        assert other.post("/v1/webhooks/test").json()["error"]["code"] == "no_webhook_url"
        other.post("/v1/webhooks/secret:rotate")
    with stack.client(a["apiKey"]) as api:
        assert len(api.get("/v1/webhooks").json()["signingSecrets"]) == 1
        assert api.get("/v1/webhooks/deliveries/evt_999999").status_code == 404
        assert api.get("/v1/webhooks/deliveries/nonsense").status_code == 404


def test_test_event_replay_and_log(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A")
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        event_id = api.post("/v1/webhooks/test").json()["eventId"]
        wait_until(lambda: len(receiver.delivered()) == 1, timeout=15, what="the test event")
        assert receiver.delivered()[0].event == {"id": event_id, "type": "webhook.test", "orgId": org["id"],
                                                 "createdAt": receiver.delivered()[0].event["createdAt"],
                                                 "data": {"test": True}}
        replayed = api.post(f"/v1/webhooks/deliveries/{event_id}:replay")
        assert replayed.status_code == 202 and replayed.json()["state"] == "pending"
        wait_until(lambda: len(receiver.delivered()) == 2, timeout=15, what="the replay")
        # The same body, byte for byte: a receiver dedupes by id.
        assert receiver.delivered()[0].body == receiver.delivered()[1].body
        detail = api.get(f"/v1/webhooks/deliveries/{event_id}").json()
    assert [a["outcome"] for a in detail["attemptLog"]] == ["delivered", "delivered"]
    assert detail["event"]["id"] == event_id
    audit = stack.sql('SELECT "action", "actor" FROM "AuditLog" WHERE "tableName" = \'WebhookEvent\'')
    assert audit == [{"action": "replay", "actor": f"api:{org['id']}"}]


def test_replay_while_an_attempt_is_in_flight__the_replay_is_still_delivered(make_stack, receiver):
    # The attempt's outcome used to overwrite the replay: the event ended 'delivered' and the
    # replay was never sent (seen on CI, where the dashboard's replay came just as a retry landed).
    import threading
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A")
    receiver.gate = threading.Event()
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        event_id = api.post("/v1/webhooks/test").json()["eventId"]
        wait_until(lambda: len(receiver.hits) == 1, timeout=15, what="the first attempt")
        replayed = api.post(f"/v1/webhooks/deliveries/{event_id}:replay")
        assert replayed.status_code == 202 and replayed.json()["state"] == "pending"
        receiver.gate.set()
        wait_until(lambda: len(receiver.delivered()) == 2, timeout=15, what="the replay after the attempt in flight")
        detail = wait_until(lambda: (d := api.get(f"/v1/webhooks/deliveries/{event_id}").json())
                            and d["state"] == "delivered" and d, timeout=15, what="the event delivered")
    assert [a["outcome"] for a in detail["attemptLog"]] == ["delivered", "delivered"]


def test_rotation__new_secret_once_both_sign_during_the_grace_period(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A")
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        rotated = api.post("/v1/webhooks/secret:rotate")
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != org["signingSecret"]
        assert rotated.json()["previousSecretValidUntil"] is not None
        shown = api.get("/v1/webhooks").text
        assert new not in shown and org["signingSecret"] not in shown
        assert len(api.get("/v1/webhooks").json()["signingSecrets"]) == 2
        api.post("/v1/webhooks/test")
        wait_until(lambda: receiver.delivered(), timeout=15, what="the test event")
    hit = receiver.delivered()[0]
    header = hit.headers["smsrelay-signature"]
    assert header.count("v1=") == 2
    assert verify_with_python_snippet(new, header, hit.body)
    assert verify_with_python_snippet(org["signingSecret"], header, hit.body)
    assert not verify_with_python_snippet("whsec_nope", header, hit.body)
    audit = stack.sql('SELECT "after"::text AS a FROM "AuditLog" WHERE "tableName" = \'WebhookSecret\'')
    assert len(audit) == 1 and new not in audit[0]["a"] and org["signingSecret"] not in audit[0]["a"]
    assert not stack.sql('SELECT 1 FROM "AuditLog" WHERE "after"::text LIKE %s', (f"%{new}%",))


def test_inbound__forwarded_as_signed_message_received_with_opt_out_type(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A", numbers=(OWN,), inbound_webhook_url=receiver.url)
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound("+14155550123", OWN, "STOP")["status"] == 200
        assert sim.send_inbound("+14155550124", OWN, "Is my order ready?")["status"] == 200
    wait_until(lambda: len(receiver.delivered()) == 2, timeout=15, what="both forwards")
    by_body = {h.event["data"]["message"]["body"]: h for h in receiver.delivered()}
    stop, plain = by_body["STOP"].event, by_body["Is my order ready?"].event
    assert stop["type"] == "message.received" and stop["data"]["optOutType"] == "STOP"
    assert plain["data"]["optOutType"] is None and plain["data"]["message"]["from"] == "+14155550124"
    assert "optedOut" not in str(stop) and "opt_out" not in str(stop)
    for hit in receiver.delivered():
        assert verify_with_python_snippet(org["signingSecret"], hit.headers["smsrelay-signature"], hit.body)


def test_events_feed__ordered_paged_by_cursor_same_bodies(make_stack, receiver):
    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A")
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        ids = [api.post("/v1/messages", json={"to": f"+1415555{2671 + i:04d}", "body": "x"}).json()["id"]
               for i in range(3)]
        for message_id in ids:
            stack.wait_status(message_id, "delivered")
        total = stack.sql('SELECT count(*) AS n FROM "WebhookEvent" WHERE "orgId" = %s', (org["id"],))[0]["n"]
        wait_until(lambda: len(receiver.delivered()) == total, timeout=15, what="every event delivered")
        seen, cursor = [], None
        for _ in range(total + 2):
            page = api.get("/v1/events", params={"limit": 2, **({"after": cursor} if cursor else {})}).json()
            seen += page["events"]
            cursor = page["next"]
            if not page["events"]:
                break
        again = api.get("/v1/events", params={"after": cursor}).json()
        bad = api.get("/v1/events", params={"after": "bm9wZQ"})
    assert len(seen) == total and len({e["id"] for e in seen}) == total
    assert again["events"] == [] and again["next"] == cursor
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    delivered = {h.event["id"]: h.event for h in receiver.delivered()}
    assert all(delivered[e["id"]] == e for e in seen)
    for message_id in ids:
        sequences = [e["data"]["sequence"] for e in seen if e["data"].get("messageId") == message_id]
        assert sorted(sequences) == list(range(1, len(sequences) + 1))


def test_held_and_released__events_in_between(make_stack, receiver):
    from smsrelay.service.tenancy import mitigations

    stack = make_stack(settings_overrides=FAST)
    org = stack.create_org("A")

    def run(fn):
        async def go(rt):
            async with rt.pool.connection() as conn:
                return await fn(conn)
        return stack.run(go)

    run(lambda conn: mitigations.disable_org(conn, org["id"], actor="t", reason="test"))
    with stack.client(org["apiKey"]) as api:
        api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
        message_id = api.post("/v1/messages", json={"to": "+14155552671", "body": "x"}).json()["id"]
    wait_until(lambda: "held" in [e["data"]["status"] for e in receiver.events(message_id)], timeout=15,
               what="a held event")
    run(lambda conn: mitigations.enable_org(conn, org["id"], actor="t", reason="test"))
    stack.wait_status(message_id, "delivered")
    wait_until(lambda: "delivered" in [e["data"]["status"] for e in receiver.events(message_id)], timeout=15,
               what="the delivered event")
    events = sorted(receiver.events(message_id), key=lambda e: e["data"]["sequence"])
    pairs = [(e["data"]["previousStatus"], e["data"]["status"]) for e in events]
    assert pairs[:3] == [(None, "queued"), ("queued", "held"), ("held", "queued")], pairs
    assert events[1]["data"]["held"]["reason"] == "org_disabled"


def test_retention__an_inbound_events_text_goes_with_the_messages_content(stack):
    from datetime import datetime, timedelta, timezone

    from smsrelay.service.operations import retention

    stack.create_org("A", numbers=(OWN,))
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound("+14155550123", OWN, "my secret text")["status"] == 200
    assert stack.sql('SELECT "message"->>\'body\' AS b FROM "WebhookEvent"')[0]["b"] == "my secret text"
    later = datetime.now(timezone.utc) + timedelta(days=stack.settings.content_retention_days + 1)
    stack.run(lambda rt: retention.purge_content(rt, now=later))
    rows = stack.sql('SELECT "message" FROM "WebhookEvent" WHERE "type" = \'message.received\'')
    assert len(rows) == 1 and "body" not in rows[0]["message"] and rows[0]["message"]["from"] == "+14155550123"
