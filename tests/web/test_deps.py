"""The API key dependency: a missing or unknown key is 401, and nothing is stored."""

from __future__ import annotations

import httpx
import pytest

TO = "+14155552671"


@pytest.mark.parametrize("auth", [None, "Bearer sk_unknown", "Basic abc", "Bearer"])
def test_unknown_or_missing_key__is_401_json(stack, auth):
    headers = {"Authorization": auth} if auth else {}
    r = httpx.post(f"{stack.api_url}/v1/messages", json={"to": TO, "body": "hi"}, headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
