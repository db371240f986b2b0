"""The message resource through the API after a real failure and an operator's retry: the
error's meaning and retryability, and retryOf / retriedAs linking the two messages."""

from __future__ import annotations

import json

from tests.support.incident import cli, make_orgs, recipient, send, settled, sim


def test_failed_then_retried__error_meaning_and_lineage_in_the_resource(stack, monkeypatch):
    (org,) = make_orgs(stack, ("+15017122661",))
    with sim(stack) as s:
        s.set_scenario("unknown_error", number=org["numbers"][0])
        failed = send(stack, org, recipient(1))
        settled(stack, [failed])
        s.clear_scenarios()
    # Evidence the cause cleared (retry refuses to re-send into a cause still failing).
    stack.wait_status(send(stack, org, recipient(2)), "delivered")
    with stack.client(org["apiKey"]) as api:
        before = api.get(f"/v1/messages/{failed}").json()
        assert before["status"] in ("failed", "undelivered") and before["waiting"] is None
        assert before["error"]["code"] == "30008" and before["error"]["retryable"] is True
        assert before["error"]["meaning"] and before["retryOf"] is None and before["retriedAs"] is None
        result = cli(stack, monkeypatch, "retry", "--json")
        assert result.exit_code == 0, result.output
        (retried,) = json.loads(result.stdout)["retried"]
        stack.wait_status(retried["retry"], "delivered")
        original = api.get(f"/v1/messages/{failed}").json()
        retry = api.get(f"/v1/messages/{retried['retry']}").json()
        assert original["retriedAs"] == retry["id"] and retry["retryOf"] == failed
        assert retry["error"] is None and retry["status"] == "delivered"
        listed = {m["id"]: m for m in api.get("/v1/messages").json()["messages"]}
        assert listed[failed]["retriedAs"] == retry["id"]


def test_held_by_a_guard__the_resource_says_why_it_waits(stack):
    from tests.support.waiting import wait_until

    org = stack.create_org("A", numbers=("+15017122661",))
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": recipient(2), "body": "later"}).json()
        wait_until(lambda: api.get(f"/v1/messages/{msg['id']}").json()["waiting"] is not None, timeout=15)
        waiting = api.get(f"/v1/messages/{msg['id']}").json()["waiting"]
        assert waiting["reason"] == "held" and waiting["detail"] == "org_disabled" and waiting["since"]
