"""The public API's contract (docs/api.md): errors name their field, bodies are JSON, listings
page with a cursor, and the message resource says what its error means and why it waits."""

from __future__ import annotations


from smsrelay.domain import message_view

TO = "+14155552671"


def test_errors__name_the_field_bad_json_is_400_and_a_form_body_is_415(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        missing = api.post("/v1/messages", json={"to": TO})
        assert missing.status_code == 422 and missing.json()["error"]["field"] == "body", missing.text
        nested = api.post("/v1/messages:batch", json={"messages": [{"to": TO, "body": "x"}, {"body": "x"}]})
        assert nested.json()["error"]["field"] == "messages.1.to", nested.text
        whole = api.post("/v1/messages", json=[1])
        assert whole.status_code == 422 and whole.json()["error"]["field"] == "$"
        bad = api.post("/v1/messages", content=b'{"to": "+14155552671", "body": }',
                       headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json", bad.text
        form = api.post("/v1/messages", data={"to": TO, "body": "x"})
        assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
        empty = api.post("/v1/messages", json={"to": TO, "body": " "})
        assert empty.json()["error"] == {"code": "empty_body", "field": "body", "message": "The message body is empty."}
        nonsense = api.get("/v1/messages", params={"status": "nonsense"})
        assert nonsense.status_code == 422 and nonsense.json()["error"]["field"] == "status"
        wrong_to = api.get("/v1/messages", params={"to": "nope"})
        assert wrong_to.status_code == 422 and wrong_to.json()["error"]["code"] == "invalid_to_number"


def test_send__to_its_own_number_is_21266_and_in_a_batch_too(stack):
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json={"to": "(501) 712-2661", "body": "loop"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "to_is_sender", r.text
        assert r.json()["error"]["twilioEquivalent"] == 21266
        b = api.post("/v1/messages:batch", json={"messages": [{"to": "+15017122661", "body": "loop"}]}).json()
        assert b["rejected"] == 1 and b["results"][0]["error"]["code"] == "to_is_sender"


def test_send__while_paused_the_202_says_held(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        assert "held" not in api.post("/v1/messages", json={"to": TO, "body": "a"}).json()
        stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
        import time
        deadline = time.monotonic() + 10
        while True:  # the API's org cache hears of the change by NOTIFY
            r = api.post("/v1/messages", json={"to": TO, "body": "b"})
            if "held" in r.json() or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 202 and r.json()["status"] == "queued"
        assert r.json()["held"]["reason"] == "org_disabled", r.text
        batch = api.post("/v1/messages:batch", json={"messages": [{"to": TO, "body": "c"}, {"to": "1", "body": "d"}]})
        results = batch.json()["results"]
        assert results[0]["held"]["reason"] == "org_disabled" and "held" not in results[1], batch.text


def test_list__pages_with_a_cursor_newest_first_and_to_is_normalised(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org("A", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": TO, "body": f"m{i}"}).json()["id"] for i in range(5)]
        api.post("/v1/messages", json={"to": "+14155550000", "body": "other"})
        seen, after = [], None
        while True:
            params = {"limit": 2, "to": "(415) 555-2671", **({"after": after} if after else {})}
            page = api.get("/v1/messages", params=params).json()
            seen += [m["id"] for m in page["messages"]]
            after = page["nextCursor"]
            if not after:
                break
        assert seen == ids[::-1]
        r = api.get("/v1/messages", params={"after": "x" * 40})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"


def test_message_view__error_waiting_and_lineage():
    err = message_view.error("30008", None)
    assert err["meaning"] and err["retryable"] is True and err["message"]
    assert message_view.error("99999", "odd")["retryable"] is False
    assert message_view.error(None, None) is None
    assert message_view.waiting("queued", {"hold": {"reason": "paused", "since": "t"}})["reason"] == "held"
    assert message_view.waiting("queued", {"throttled": {"until": "u", "perMinute": 5}})["until"] == "u"
    outage = message_view.waiting("queued", {"lastError": {"code": None, "httpStatus": 503, "message": "down",
                                                           "at": "t"}, "nextAttemptAt": "n"})
    assert outage == {"reason": "twilio_retry", "detail": "Twilio answered 503: down", "since": "t", "until": "n"}
    assert message_view.waiting("sent", {"hold": {"reason": "paused"}}) is None
    assert message_view.lineage({"retryOf": "msg_a", "retriedBy": "msg_b"}) == {"retryOf": "msg_a",
                                                                                 "retriedAs": "msg_b"}


def test_docs__served_with_no_outside_network(stack):
    with stack.client() as http:
        page = http.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://fastapi", "")
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            r = http.get(asset)
            assert r.status_code == 200 and len(r.content) > 10_000, asset
            assert asset.rsplit("/", 1)[1] in page.text
