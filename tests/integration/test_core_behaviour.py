"""Issue 2's integration cases: failures, retries, signatures, callback order, inbound,
idempotency, tenant isolation and input validation — against real PostgreSQL and the simulator."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from twilio.request_validator import RequestValidator

from smsrelay.service.delivery.inbound import sign
from smsrelay.simulator.ledger import SimulatorClient
from tests.harness import free_port, wait_until

TO = "+14155552671"


def _send(stack, key, **body):
    with stack.client(key) as api:
        return api.post("/v1/messages", json={"to": TO, "body": "hello", **body})


def test_permanent_twilio_error__fails_at_once_with_code_and_message(stack):
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("geo_blocked", country="US")
    r = _send(stack, org["apiKey"])
    assert r.status_code == 202
    row = stack.wait_status(r.json()["id"], "failed")
    assert row["metadata"]["twilioErrorCode"] == "21408"
    assert "permission" in row["metadata"]["twilioErrorMessage"].lower()
    assert row["metadata"]["attempts"] == 1, "21408 is not retryable: one attempt only"
    assert row["twilioSid"] is None


def test_retryable_twilio_error__is_retried_then_sent(stack):
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("rate_limited")
        r = _send(stack, org["apiKey"])
        refused = wait_until(lambda: (m := stack.message(r.json()["id"]))["metadata"].get("lastError") and m,
                             what="Twilio's 429 to be recorded")
        assert refused["status"] == "queued" and refused["metadata"]["lastError"]["code"] == 20429
        sim.clear_scenarios()
        row = stack.wait_status(r.json()["id"], {"delivered"}, timeout=40)
        assert row["metadata"]["attempts"] >= 2
        assert row["metadata"]["lastError"] is None
        assert len(sim.ledger(to=TO)) == 1, "sent exactly once"


def test_status_callback__missing_or_wrong_signature_is_403_and_changes_nothing(stack):
    org = stack.create_org()
    stack.stop_workers()
    msg = _send(stack, org["apiKey"]).json()
    url = f"{stack.api_url}/webhooks/twilio/status?messageId={msg['id']}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": stack.settings.twilio_account_sid}
    good = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    with httpx.Client() as http:
        assert http.post(url, data=params).status_code == 403
        assert http.post(url, data=params, headers={"X-Twilio-Signature": "bm9wZQ=="}).status_code == 403
        tampered = dict(params, MessageStatus="failed")
        r = http.post(url, data=tampered, headers={"X-Twilio-Signature": good})
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_signature"
    assert stack.message(msg["id"])["status"] == "queued"
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent"')[0]["n"] == 0


@pytest.mark.parametrize("mode", ["duplicate", "out_of_order"])
def test_duplicate_and_out_of_order_callbacks__end_delivered_with_each_event_once(make_stack, mode):
    stack = make_stack(sim_overrides={"callback_mode": mode})
    org = stack.create_org()
    msg = _send(stack, org["apiKey"]).json()
    row = stack.wait_status(msg["id"], "delivered")

    def stored() -> list[str]:
        return sorted(e["status"] for e in stack.sql(
            'SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s', (msg["id"],)))

    # Out of order, "sent" arrives after "delivered": wait for it, then check it changed nothing.
    wait_until(lambda: stored() == ["delivered", "sent"], timeout=15, what="both events stored")
    events = stack.sql('SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s ORDER BY "id"', (msg["id"],))
    assert sorted(e["status"] for e in events) == ["delivered", "sent"]
    assert stack.message(msg["id"])["status"] == "delivered"
    assert row["finalAt"] is not None


def test_callback_before_worker_commit__is_still_applied(stack):
    """Twilio can call back before the worker has committed the sid."""
    org = stack.create_org()
    stack.stop_workers()
    msg = _send(stack, org["apiKey"]).json()
    sid = "SM" + "b" * 32
    url = f"{stack.api_url}/webhooks/twilio/status?messageId={msg['id']}"
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered",
              "AccountSid": stack.settings.twilio_account_sid, "To": TO, "From": "+15017122661",
              "ApiVersion": "2010-04-01"}
    sig = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}).status_code == 200
    row = stack.message(msg["id"])
    assert row["status"] == "delivered" and row["twilioSid"] == sid


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def org_webhook():
    port = free_port()
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/hook", handler.received
    server.shutdown()


def test_inbound__stored_and_forwarded_signed_to_the_org(stack, org_webhook):
    url, received = org_webhook
    org = stack.create_org(numbers=("+15017122661",), inbound_webhook_url=url)
    with SimulatorClient(stack.sim.url) as sim:
        answer = sim.send_inbound("+14155550123", "+15017122661", "Is my order ready?")
    assert answer["status"] == 200
    assert "<Response" in answer["body"]
    rows = stack.sql('SELECT * FROM "MessageLog" WHERE "direction" = \'inbound\'')
    assert len(rows) == 1
    assert rows[0]["status"] == "received" and rows[0]["orgId"] == org["id"]
    assert rows[0]["content"] == "Is my order ready?" and rows[0]["twilioSid"].startswith("SM")
    wait_until(lambda: received, timeout=15, what="the org's webhook to be called")
    headers, body = received[0]
    secret = stack.sql('SELECT "inboundWebhookSecret" AS s FROM "OrgSettings" WHERE "orgId" = %s', (org["id"],))[0]["s"]
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["x-smsrelay-signature"] == sign(secret, headers["x-smsrelay-timestamp"], body)
    payload = json.loads(body)
    assert payload["message"]["body"] == "Is my order ready?" and payload["message"]["from"] == "+14155550123"


def test_inbound__bad_signature_is_403_and_stores_nothing(stack):
    stack.create_org()
    r = httpx.post(f"{stack.api_url}/webhooks/twilio/inbound",
                   data={"From": "+14155550123", "To": "+15017122661", "Body": "hi", "MessageSid": "SM" + "c" * 32},
                   headers={"X-Twilio-Signature": "AAAA"})
    assert r.status_code == 403
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_inbound__form_decoded_exactly_as_signed_in_either_encoding(stack, encoding):
    # Twilio sends urlencoded (parsed by the standard library); anything else still goes
    # through Starlette's parser. Both must give the signature check the same text.
    stack.create_org()
    body = "Café + 100% ✓ a&b=c;d"
    params = {"From": "+14155550123", "To": "+15017122661", "Body": body, "MessageSid": "SM" + "e" * 32,
              "AccountSid": stack.settings.twilio_account_sid}
    url = f"{stack.api_url}/webhooks/twilio/inbound"
    signature = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature}
    if encoding == "urlencoded":
        r = httpx.post(url, data=params, headers=headers)
    else:
        r = httpx.post(url, files={k: (None, v) for k, v in params.items()}, headers=headers)
    assert r.status_code == 200, r.text
    assert stack.sql('SELECT "content" FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["content"] == body


def test_webhook__too_many_form_fields_is_400_with_a_code(stack):
    fields = "&".join(f"f{i}=x" for i in range(1001))
    r = httpx.post(f"{stack.api_url}/webhooks/twilio/status", content=fields,
                   headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "AAAA"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_form"


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
    ({"to": TO}, 422, "invalid_request"),
    ({"to": TO, "body": "hi", "from": "+15550000000"}, 422, "invalid_from_number"),
])
def test_invalid_input__is_4xx_json_and_stores_nothing(stack, body, status, code):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
    assert stack.sql("SELECT count(*) AS n FROM procrastinate_jobs")[0]["n"] == 0


@pytest.mark.parametrize("auth", [None, "Bearer sk_unknown", "Basic abc", "Bearer"])
def test_unknown_or_missing_key__is_401_json(stack, auth):
    headers = {"Authorization": auth} if auth else {}
    r = httpx.post(f"{stack.api_url}/v1/messages", json={"to": TO, "body": "hi"}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


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
