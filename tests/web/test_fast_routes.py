"""web/fast_routes.py serves the ordinary send and status callback without FastAPI, and hands
everything else to FastAPI untouched (the contract tests say the answers are the same; this
says which path gave them, so the fast path cannot silently stop being used)."""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from smsrelay.web.fast_routes import FastRoutes

TO, NUMBER = "+14155552671", "+15017122661"


def _counting(stack) -> list[str]:
    """Paths of the requests that reached FastAPI's own routing from the fast path."""
    app = stack.api.server.config.app
    layer = app.middleware_stack
    while not isinstance(layer, FastRoutes):
        layer = layer.app
    inner, seen = layer.app, []

    async def counted(scope, receive, send):
        seen.append(scope["path"])
        await inner(scope, receive, send)

    layer.app = counted
    return seen


def _signed(stack, message_id: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
    path = f"/webhooks/twilio/status?messageId={message_id}"
    sig = RequestValidator(stack.settings.twilio_auth_token).compute_signature(stack.api_url + path, params)
    return path, {"X-Twilio-Signature": sig}


def test_ordinary_send_and_callback__never_reach_fastapi(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org(numbers=(NUMBER,))
    with stack.client(org["apiKey"]) as api:
        api.get("/healthz")  # the middleware stack is built by the first request
        seen = _counting(stack)
        r = api.post("/v1/messages", json={"to": TO, "body": "hi"}, headers={"Idempotency-Key": "k1"})
        assert r.status_code == 202 and r.json()["status"] == "queued", r.text
        again = api.post("/v1/messages", json={"to": TO, "body": "hi"}, headers={"Idempotency-Key": "k1"})
        assert again.json() == r.json()
        reused = api.post("/v1/messages", json={"to": TO, "body": "other"}, headers={"Idempotency-Key": "k1"})
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
    sid = "SM" + "f" * 32
    params = {"MessageSid": sid, "MessageStatus": "sent", "AccountSid": stack.settings.twilio_account_sid}
    path, headers = _signed(stack, r.json()["id"], params)
    for _ in range(2):  # a replay: stored once
        assert httpx.post(stack.api_url + path, data=params, headers=headers).status_code == 200
    bad = httpx.post(stack.api_url + path, data=dict(params, MessageStatus="failed"), headers=headers)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "invalid_signature"
    assert seen == []
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent"')[0]["n"] == 1
    assert stack.message(r.json()["id"])["status"] == "sent"


def test_unusual_requests__are_answered_by_fastapi_as_before(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org(numbers=(NUMBER,))
    with stack.client(org["apiKey"]) as api:
        api.get("/healthz")
        seen = _counting(stack)
        missing = api.post("/v1/messages", json={"body": "no to"})
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "to", missing.text
        broken = api.post("/v1/messages", content=b'{"to": ', headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json", broken.text
        long_key = api.post("/v1/messages", json={"to": TO, "body": "hi"}, headers={"Idempotency-Key": "k" * 256})
        assert long_key.status_code == 422, long_key.text
        sent = api.post("/v1/messages", json={"to": TO, "body": "hi"}).json()
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered",
              "AccountSid": stack.settings.twilio_account_sid}
    path, headers = _signed(stack, sent["id"], params)
    multipart = httpx.post(stack.api_url + path, files={k: (None, v) for k, v in params.items()}, headers=headers)
    assert multipart.status_code == 200
    assert seen == ["/v1/messages"] * 3 + ["/webhooks/twilio/status"]
    assert stack.message(sent["id"])["status"] == "delivered"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 1
