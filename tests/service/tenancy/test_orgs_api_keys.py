"""API keys: stored hashed, shown once, never logged, revocable."""

from __future__ import annotations

import logging

TO = "+14155552671"


def test_api_keys__stored_hashed_never_logged_and_revocable(stack, caplog):
    caplog.set_level(logging.DEBUG)
    org = stack.create_org()
    key = org["apiKey"]
    stored = stack.sql('SELECT * FROM "ApiKey" WHERE "orgId" = %s', (org["id"],))
    assert len(stored) == 1
    assert key not in str(stored[0]) and stored[0]["keyHash"] != key and len(stored[0]["keyHash"]) == 64
    with stack.client(key) as api:
        assert api.post("/v1/messages", json={"to": TO, "body": "hi"}).status_code == 202
        assert api.get("/v1/messages/msg_nope").status_code == 404
    assert all(key not in r.getMessage() for r in caplog.records)

    async def revoke(rt):
        from smsrelay.service.tenancy import orgs
        async with rt.pool.connection() as conn:
            await orgs.revoke_key(conn, org["id"], stored[0]["id"])

    stack.run(revoke)
    with stack.client(key) as api:
        r = api.get("/v1/messages")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
