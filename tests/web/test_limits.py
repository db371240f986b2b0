"""The request body limit and the per-key rate limit."""

from __future__ import annotations

TO = "+14155552671"


def test_request_body_limit__413_json_and_nothing_stored(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", content=b'{"to": "+14155552671", "body": "' + b"a" * 100_000 + b'"}',
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_per_key_rate_limit__429_with_retry_after(make_stack):
    stack = make_stack(settings_overrides={"api_rate_limit_per_minute": 3}, start_worker=False)
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    with stack.client(org["apiKey"]) as api:
        codes = [api.get("/v1/messages").status_code for _ in range(4)]
        limited = api.post("/v1/messages", json={"to": TO, "body": "hi"})
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
    with stack.client(other["apiKey"]) as api:
        assert api.get("/v1/messages").status_code == 200, "limits are per key"
