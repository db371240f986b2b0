"""An org's own opt-outs and API keys, through the API with its key."""

from __future__ import annotations

import concurrent.futures

TO = "+14155552671"


def test_opt_outs__add_normalised_then_sends_refused_remove_then_sends_accepted(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/opt-outs", json={"phone": "(415) 555-2671"})
        assert r.status_code == 201 and r.json()["phone"] == TO and r.json()["source"] == "api", r.text
        again = api.post("/v1/opt-outs", json={"phone": TO})
        assert again.status_code == 200 and again.json() == r.json()
        listed = api.get("/v1/opt-outs").json()
        assert listed == {"optOuts": [r.json()], "nextCursor": None}
        refused = api.post("/v1/messages", json={"to": TO, "body": "hi"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "recipient_opted_out"
        gone = api.delete("/v1/opt-outs/415-555-2671")
        assert gone.status_code == 204 and gone.content == b""
        assert api.delete(f"/v1/opt-outs/{TO}").status_code == 404
        assert api.post("/v1/messages", json={"to": TO, "body": "hi"}).status_code == 202
        bad = api.post("/v1/opt-outs", json={"phone": "not a number"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_to_number"
        assert bad.json()["error"]["field"] == "phone"


def test_opt_outs__page_with_a_cursor_and_refuse_a_foreign_one(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        phones = [f"+1415555{n:04d}" for n in range(2671, 2676)]
        for p in phones:
            assert api.post("/v1/opt-outs", json={"phone": p}).status_code == 201
        seen, after = [], None
        while True:
            page = api.get("/v1/opt-outs", params={"limit": 2, **({"after": after} if after else {})}).json()
            seen += [o["phone"] for o in page["optOuts"]]
            after = page["nextCursor"]
            if after is None:
                break
        assert seen == sorted(phones)
        messages_cursor = api.get("/v1/messages", params={"limit": 1}).json()["nextCursor"]
        assert messages_cursor is None
        r = api.get("/v1/opt-outs", params={"after": "bm9wZQ"})
        assert r.status_code == 422 and r.json()["error"] == {
            "code": "invalid_cursor", "field": "after",
            "message": "'after' is not a cursor this listing gave out; pass a page's nextCursor unchanged."}


def test_api_keys__created_shown_once_listed_without_secrets_and_revoked(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        listed = api.get("/v1/api-keys").json()["apiKeys"]
        assert len(listed) == 1 and listed[0]["current"] and "apiKey" not in listed[0]
        first_id = listed[0]["id"]
        # The org's only key: revoking it would lock the org out of its own API.
        last = api.delete(f"/v1/api-keys/{first_id}")
        assert last.status_code == 409 and last.json()["error"]["code"] == "last_api_key"
        made = api.post("/v1/api-keys", json={"name": "ci"})
        assert made.status_code == 201, made.text
        new = made.json()
        assert new["apiKey"].startswith("sk_") and new["prefix"] == new["apiKey"][:8] and new["name"] == "ci"
        listed = api.get("/v1/api-keys").json()["apiKeys"]
        assert new["apiKey"] not in str(listed) and {k["id"] for k in listed} == {first_id, new["id"]}
        assert api.post("/v1/api-keys").status_code == 201  # no body: a key without a label
    with stack.client(new["apiKey"]) as api:
        assert api.get("/v1/api-keys").status_code == 200
        # The key it calls with can go once there is another.
        assert api.delete(f"/v1/api-keys/{new['id']}").status_code == 204
        assert api.get("/v1/api-keys").status_code == 401
    with stack.client(org["apiKey"]) as api:
        assert api.delete(f"/v1/api-keys/{new['id']}").status_code == 404  # already revoked
        assert api.delete("/v1/api-keys/key_nonesuch").status_code == 404


def test_api_keys__two_revocations_at_once_leave_one_key(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        second = api.post("/v1/api-keys", json={"name": "two"}).json()
        first_id = next(k["id"] for k in api.get("/v1/api-keys").json()["apiKeys"] if k["current"])
    for _ in range(3):
        def revoke(key_and_id):
            key, key_id = key_and_id
            with stack.client(key) as api:
                return api.delete(f"/v1/api-keys/{key_id}").status_code

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(revoke, [(org["apiKey"], second["id"]), (second["apiKey"], first_id)]))
        assert codes in ([204, 401], [204, 409]), codes
        active = stack.sql('SELECT count(*) AS n FROM "ApiKey" WHERE "orgId" = %s AND "revokedAt" IS NULL',
                           (org["id"],))[0]["n"]
        assert active == 1
        break
