"""Text PostgreSQL cannot store (NUL) or that is not Unicode at all (a lone surrogate, which
JSON can spell as \\ud800) is bad input: 422 with a code, never a 500, wherever it comes in."""

from __future__ import annotations

import json

import httpx
import pytest

TO = "+14155552671"
NUL, LONE = "\\u0000", "\\ud800"   # as they travel, escaped in JSON


def _post(stack, key: str, path: str, raw_json: str) -> httpx.Response:
    return httpx.post(stack.api_url + path, content=raw_json.encode(),
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


@pytest.fixture
def api(make_stack):
    stack = make_stack(start_worker=False)
    return stack, stack.create_org()["apiKey"]


@pytest.mark.parametrize("field, raw", [
    ("body", f'{{"to": "{TO}", "body": "hi{NUL}"}}'),
    ("body", f'{{"to": "{TO}", "body": "hi{LONE}"}}'),
    ("to", f'{{"to": "+1415555{NUL}2671", "body": "hi"}}'),
    ("to", f'{{"to": "{TO}{LONE}", "body": "hi"}}'),
    ("from", f'{{"to": "{TO}", "body": "hi", "from": "{NUL}"}}'),
])
def test_send__bad_characters_are_422_invalid_characters(api, field, raw):
    stack, key = api
    r = _post(stack, key, "/v1/messages", raw)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_characters" and error["field"] == field
    assert "\x00" not in r.text
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_send__with_an_idempotency_key_is_still_422(api):
    stack, key = api
    r = httpx.post(stack.api_url + "/v1/messages", content=f'{{"to": "{TO}", "body": "a{NUL}"}}'.encode(),
                   headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                            "Idempotency-Key": "k-1"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"


def test_batch__one_bad_item_rejects_that_item_only(api):
    stack, key = api
    items = [{"to": TO, "body": "fine"}, {"to": TO, "body": "nul"}, {"to": TO, "body": "lone"},
             {"to": TO, "body": "also fine"}, {"to": TO, "body": "x", "from": "nul"}]
    raw = json.dumps({"messages": items})
    raw = raw.replace('"nul"', f'"a{NUL}"').replace('"lone"', f'"b{LONE}"')
    r = _post(stack, key, "/v1/messages:batch", raw)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 2 and out["rejected"] == 3
    codes = {res["index"]: res.get("error", {}).get("code") for res in out["results"]}
    assert codes == {0: None, 1: "invalid_characters", 2: "invalid_characters", 3: None, 4: "invalid_characters"}
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 2


@pytest.mark.parametrize("path", [
    "/v1/messages?to=%00",
    "/v1/messages?to=%2B1415%00",
    "/v1/messages?status=%00",
    "/v1/messages/msg_%00",
    "/v1/messages/%00",
])
def test_read__nul_in_query_or_path_is_422(api, path):
    stack, key = api
    r = httpx.get(stack.api_url + path, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_characters"


def test_read__clean_input_still_works(api):
    stack, key = api
    assert httpx.get(stack.api_url + "/v1/messages?to=%2B14155552671",
                     headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.get(stack.api_url + "/v1/messages/msg_nope",
                     headers={"Authorization": f"Bearer {key}"}).status_code == 404
