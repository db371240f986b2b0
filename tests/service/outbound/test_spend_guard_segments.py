"""The daily cap ("dailySendCap") counts billed segments, as Twilio bills them: a 1,600-character
UCS-2 message is 24 segments, so two of them do not fit a cap of 30."""

from __future__ import annotations

from smsrelay.domain import segments

TO = "+14155552671"
LONG_UCS2 = "ж" * 1600  # Cyrillic: UCS-2, 67 characters a segment


def set_cap(stack, org, cap: int) -> None:
    stack.sql('UPDATE "OrgSettings" SET "dailySendCap" = %s WHERE "orgId" = %s', (cap, org["id"]))


def test_long_ucs2_message_is_24_segments():
    assert segments.analyse(LONG_UCS2).segments == 24


def test_daily_cap__counts_segments_for_single_sends(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    set_cap(stack, org, 30)
    with stack.client(org["apiKey"]) as api:
        first = api.post("/v1/messages", json={"to": TO, "body": LONG_UCS2})
        assert first.status_code == 202 and first.json()["segments"] == 24
        second = api.post("/v1/messages", json={"to": TO, "body": LONG_UCS2})
        assert second.status_code == 429, second.text
        error = second.json()["error"]
        assert error["code"] == "daily_cap_reached" and "segments" in error["message"]
        assert second.headers.get("Retry-After")
        # What is left (6 segments) still takes a short message.
        assert api.post("/v1/messages", json={"to": TO, "body": "short"}).status_code == 202


def test_daily_cap__counts_segments_in_a_batch(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    set_cap(stack, org, 30)
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages:batch", json={"messages": [{"to": TO, "body": LONG_UCS2},
                                                               {"to": TO, "body": LONG_UCS2},
                                                               {"to": TO, "body": "short"}]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0]["status"] == "queued"
    assert results[1]["error"]["code"] == "daily_cap_reached"
    assert results[2]["status"] == "queued"
    used = stack.sql('SELECT sum("segments")::int AS n FROM "MessageLog" WHERE "orgId" = %s', (org["id"],))[0]["n"]
    assert used == 25
