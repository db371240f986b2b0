"""What a stranger can make the API spend: a key that cannot be one of ours is refused without
a database connection, an unknown one costs one round trip then none for a while, and /metrics
can demand a token and is served from a short cache rather than a query per scrape."""

from __future__ import annotations

import httpx
import pytest

from smsrelay.service.tenancy import orgs

TO = "+14155552671"


def _pool(stack):
    return stack.api.server.config.app.state.runtime.pool


def _taken(stack) -> int:
    return _pool(stack).get_stats().get("requests_num", 0)


def _send(stack, key: str) -> httpx.Response:
    return httpx.post(f"{stack.api_url}/v1/messages", json={"to": TO, "body": "hi"},
                      headers={"Authorization": b"Bearer " + key.encode()})  # bytes: non-ASCII too


@pytest.mark.parametrize("key", ["sk_unknown", "pk_" + "a" * 43, "sk_" + "a" * 42, "sk_" + "a" * 44,
                                 "sk_" + "a" * 42 + "!", "a" * 46, "sk_" + "é" * 43])
def test_malformed_key__401_without_a_connection(make_stack, key):
    stack = make_stack(start_worker=False)
    before = _taken(stack)
    for _ in range(3):
        r = _send(stack, key)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert _taken(stack) == before, "a key that cannot be ours took a pool connection"


def test_well_formed_unknown_key__one_round_trip_then_cached(make_stack):
    stack = make_stack(start_worker=False)
    key = orgs.KEY_PREFIX + "A" * 43
    before = _taken(stack)
    for _ in range(5):
        assert _send(stack, key).status_code == 401
    assert _taken(stack) - before == 1


def test_valid_key_works_and_revocation_is_immediate(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    assert _send(stack, org["apiKey"]).status_code == 202
    stack.sql('UPDATE "ApiKey" SET "revokedAt" = now() WHERE "orgId" = %s', (org["id"],))
    assert _send(stack, org["apiKey"]).status_code == 401


def test_metrics__token_required_when_set(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"metrics_token": "scrape-secret"})
    before = _taken(stack)
    assert httpx.get(f"{stack.api_url}/metrics").status_code == 401
    wrong = httpx.get(f"{stack.api_url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert _taken(stack) == before, "a refused scrape queried PostgreSQL"
    ok = httpx.get(f"{stack.api_url}/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert ok.status_code == 200 and "twilio_sms_outbound_total" in ok.text


def test_metrics__open_when_no_token_is_set(make_stack):
    stack = make_stack(start_worker=False)
    assert httpx.get(f"{stack.api_url}/metrics").status_code == 200


def test_metrics__scrapes_within_the_cache_time_share_one_query(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"metrics_cache_seconds": 60})
    first = httpx.get(f"{stack.api_url}/metrics")
    after_first = _taken(stack)
    again = [httpx.get(f"{stack.api_url}/metrics") for _ in range(5)]
    assert _taken(stack) == after_first, "every scrape queried PostgreSQL"
    assert all(r.status_code == 200 and r.text == first.text for r in again)
