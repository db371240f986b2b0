"""Retention: a row locked while the purge runs is purged by a later run of the same scheduler
(not only after a restart), and callback payloads and idempotency keys go with the content."""

from __future__ import annotations

import psycopg

from smsrelay.service.operations import retention
from smsrelay.store.db import psycopg_url

TO = "+14155552671"


def stage_old(stack, org, n: int) -> list[str]:
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata", "createdAt")
        SELECT 'msg_old_' || g, %(org)s, 'outbound', 'delivered', %(number)s, %(to)s, 'old secret ' || g, '{}'::jsonb,
               now() - interval '40 days' + g * interval '1 minute'
        FROM generate_series(1, %(n)s) g""", {"org": org["id"], "number": org["numbers"][0], "to": TO, "n": n})
    return [f"msg_old_{g}" for g in range(1, n + 1)]


def test_purge__a_row_locked_during_one_run_is_purged_by_the_next(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    ids = stage_old(stack, org, 3)

    async def scenario(rt) -> tuple[int, int]:
        # One Runtime for both runs: the scheduler leader's process, which keeps its horizon.
        async with await psycopg.AsyncConnection.connect(psycopg_url(stack.database_url)) as locker:
            await locker.execute('SELECT 1 FROM "MessageLog" WHERE "id" = %s FOR UPDATE', (ids[1],))
            first = await retention.purge_content(rt)
        second = await retention.purge_content(rt)  # the lock went with the locker's transaction
        return first, second

    assert stack.run(scenario) == (2, 1)
    left = stack.sql('SELECT "id" FROM "MessageLog" WHERE "content" IS NOT NULL')
    assert left == []


def test_purge__callback_payloads_and_idempotency_keys_go_after_retention(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        old = api.post("/v1/messages", json={"to": TO, "body": "old secret"}, headers={"Idempotency-Key": "k-old"}).json()
        new = api.post("/v1/messages", json={"to": TO, "body": "fresh"}, headers={"Idempotency-Key": "k-new"}).json()
    stack.wait_status(old["id"], "delivered")
    stack.wait_status(new["id"], "delivered")
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent" WHERE "messageId" = %s', (old["id"],))[0]["n"] >= 1
    stack.sql('UPDATE "MessageLog" SET "createdAt" = now() - interval \'31 days\' WHERE "id" = %s', (old["id"],))
    stack.sql('UPDATE "MessageEvent" SET "receivedAt" = now() - interval \'31 days\' WHERE "messageId" = %s', (old["id"],))
    stack.sql('UPDATE "IdempotencyKey" SET "createdAt" = now() - interval \'31 days\' WHERE "key" = %s', ("k-old",))

    stack.run(lambda rt: retention.purge_content(rt))

    events = stack.sql('SELECT "messageId", "status", "payload" FROM "MessageEvent"')
    old_events = [e for e in events if e["messageId"] == old["id"]]
    assert old_events and all(e["payload"] == {} for e in old_events), "payloads carry numbers: purged"
    assert all(e["status"] for e in old_events), "the event itself stays (history, de-duplication)"
    assert all(e["payload"] for e in events if e["messageId"] == new["id"]), "recent payloads kept"
    keys = {r["key"] for r in stack.sql('SELECT "key" FROM "IdempotencyKey"')}
    assert keys == {"k-new"}
