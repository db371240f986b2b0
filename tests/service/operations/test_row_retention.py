"""Row retention (MESSAGE_RETENTION_DAYS): a run deletes exactly the messages past it, with their
callbacks and events, exports them first, keeps what is still in use, leaves the hourly rollup's
history as it was; a dry run and an unset setting change nothing."""

from __future__ import annotations

import gzip
import json

import psycopg

from smsrelay.service.operations import retention, row_retention
from smsrelay.store.db import psycopg_url
from tests.support.waiting import wait_until

TO = "+14155552671"


def counts(stack) -> dict[str, int]:
    return {t: stack.sql(f'SELECT count(*) AS n FROM "{t}"')[0]["n"]
            for t in ("MessageLog", "MessageEvent", "WebhookEvent", "SendQueue")}


def rollup(stack) -> list[tuple]:
    """The hourly rollup as a reader sees it: folded rows plus deltas not yet folded."""
    rows = stack.sql("""
        SELECT "hour", "direction", "orgId", "status", "errorCode", "from", sum("count")::int AS n FROM (
            SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "count" FROM "MessageRollup"
            UNION ALL
            SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "count" FROM "MessageRollupDelta") r
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum("count") <> 0 ORDER BY 1, 2, 3, 4, 5, 6""")
    return [tuple(r.values()) for r in rows]


def age(stack, ids: list[str], days: int) -> None:
    stack.sql(f'UPDATE "MessageLog" SET "createdAt" = "createdAt" - interval \'{days} days\' WHERE "id" = ANY(%s)', (ids,))


def sent_and_delivered(stack, org, n: int) -> list[str]:
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": TO, "body": f"hello {i}"}).json()["id"] for i in range(n)]
    for message_id in ids:
        stack.wait_status(message_id, "delivered")
    # The worker finishes its queue row after Twilio's answer, which may come after the callbacks.
    wait_until(lambda: not stack.sql('SELECT 1 FROM "SendQueue" WHERE "messageId" = ANY(%s)', (ids,)),
               what="the sends' queue rows finished")
    return ids


def test_retention__deletes_exactly_the_expired_rows_with_their_events_and_exports_them(stack, tmp_path):
    org = stack.create_org()
    old = sent_and_delivered(stack, org, 3)
    recent = sent_and_delivered(stack, org, 2)
    age(stack, old, 40)
    # An old message still to be sent (a "SendQueue" row far ahead) stays until it is done.
    waiting = sent_and_delivered(stack, org, 1)[0]
    age(stack, [waiting], 40)
    stack.sql('UPDATE "MessageLog" SET "status" = \'scheduled\' WHERE "id" = %s', (waiting,))
    stack.sql('INSERT INTO "SendQueue" ("messageId", "orgId", "dueAt") VALUES (%s, %s, now() + interval \'1 day\')',
              (waiting, org["id"]))
    old_callbacks = stack.sql('SELECT count(*) AS n FROM "MessageEvent" WHERE "messageId" = ANY(%s)', (old,))[0]["n"]
    old_events = stack.sql('SELECT count(*) AS n FROM "WebhookEvent" WHERE "messageId" = ANY(%s)', (old,))[0]["n"]
    assert old_callbacks >= 3 and old_events >= 3, "each message has callbacks and outbox events"
    before, rollup_before = counts(stack), rollup(stack)
    stack.stop_workers()  # nothing else moves while we compare

    dry = stack.run(lambda rt: row_retention.run_retention(rt, dry_run=True), message_retention_days=30,
                    message_export_dir=tmp_path)
    assert (dry.expired, dry.kept, dry.deleted) == (4, 1, 0)
    assert counts(stack) == before and rollup(stack) == rollup_before and not list(tmp_path.iterdir())

    done = stack.run(lambda rt: row_retention.run_retention(rt), message_retention_days=30, message_export_dir=tmp_path)

    assert (done.deleted, done.callbacks, done.events) == (3, old_callbacks, old_events)
    left = {r["id"] for r in stack.sql('SELECT "id" FROM "MessageLog"')}
    assert left == set(recent) | {waiting}
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent" WHERE "messageId" = ANY(%s)', (old,))[0]["n"] == 0
    assert stack.sql('SELECT count(*) AS n FROM "WebhookEvent" WHERE "messageId" = ANY(%s)', (old,))[0]["n"] == 0
    after = counts(stack)
    assert after["MessageLog"] == before["MessageLog"] - 3 and after["SendQueue"] == before["SendQueue"]
    assert rollup(stack) == rollup_before, "the rollup keeps the deleted hours' counts"

    exported = row_retention.read_export(tmp_path, org["id"])
    assert [r["id"] for r in exported] == sorted(old, key=lambda i: next(r["createdAt"] for r in exported if r["id"] == i))
    assert {r["id"] for r in exported} == set(old)
    assert all(r["status"] == "delivered" and r["to"] == TO and r["twilioSid"] for r in exported)
    assert sum(len(r["events"]) for r in exported) == old_callbacks
    assert all({e["status"] for e in r["events"]} >= {"delivered"} for r in exported)
    files = sorted(tmp_path.glob("*/*.ndjson.gz"))
    assert files and all(f.parent.name == exported[0]["createdAt"][:10] for f in files)
    with gzip.open(files[0], "rt") as lines:
        assert all(json.loads(line)["orgId"] == org["id"] for line in lines)

    again = stack.run(lambda rt: row_retention.run_retention(rt), message_retention_days=30, message_export_dir=tmp_path)
    assert again.deleted == 0


def test_retention__unset_keeps_every_row(stack):
    org = stack.create_org()
    old = sent_and_delivered(stack, org, 2)
    age(stack, old, 4000)
    before = counts(stack)
    assert stack.run(lambda rt: row_retention.run_retention(rt)) is None
    stack.run(retention.retention_duty)
    assert counts(stack) == before


def test_retention__a_row_locked_by_a_writer_is_skipped_then_deleted_by_the_next_run(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "createdAt")
        SELECT 'msg_old_' || g, %(org)s, 'outbound', 'delivered', %(number)s, %(to)s, now() - interval '40 days' + g * interval '1 minute'
        FROM generate_series(1, 2500) g""", {"org": org["id"], "number": org["numbers"][0], "to": TO})

    async def scenario(rt) -> tuple[int, int]:
        # One Runtime for both runs: the scheduler leader's process, which keeps its horizon.
        async with await psycopg.AsyncConnection.connect(psycopg_url(stack.database_url)) as locker:
            await locker.execute('SELECT 1 FROM "MessageLog" WHERE "id" = %s FOR UPDATE', ("msg_old_1200",))
            first = await row_retention.run_retention(rt)  # batches of 1,000: the lock is in the second
        second = await row_retention.run_retention(rt)
        return first.deleted, second.deleted

    assert stack.run(scenario, message_retention_days=30) == (2499, 1)
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_retention__the_scheduler_leader_applies_it_each_round(make_stack):
    from smsrelay.processes.scheduler import run_scheduler
    from smsrelay.service.runtime import Runtime
    from tests.support.servers import LoopThread

    stack = make_stack(start_worker=False, settings_overrides={"message_retention_days": 30})
    org = stack.create_org()
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "createdAt")
        SELECT 'msg_' || g, %(org)s, 'outbound', 'delivered', %(number)s, %(to)s,
               CASE WHEN g <= 5 THEN now() - interval '31 days' ELSE now() - interval '29 days' END
        FROM generate_series(1, 8) g""", {"org": org["id"], "number": org["numbers"][0], "to": TO})
    rt = Runtime.create(stack.settings, stack.database_url, pool_size=4, name="test-scheduler")
    scheduler = LoopThread(lambda: run_scheduler(rt, tick=0.2)).start()
    try:
        wait_until(lambda: stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 3, timeout=30,
                   interval=0.2, what="the scheduler's retention round")
    finally:
        scheduler.stop()
    assert scheduler.error is None
    assert {r["id"] for r in stack.sql('SELECT "id" FROM "MessageLog"')} == {"msg_6", "msg_7", "msg_8"}


def test_retention__callbacks_and_events_of_no_message_go_past_the_cutoff_too(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    stack.sql("""INSERT INTO "MessageEvent" ("messageId", "twilioSid", "status", "payload", "receivedAt") VALUES
                 (NULL, 'SMunknown1', 'delivered', '{}', now() - interval '40 days'),
                 (NULL, 'SMunknown2', 'delivered', '{}', now() - interval '1 day')""")
    stack.sql("""INSERT INTO "WebhookEvent" ("orgId", "type", "state", "createdAt") VALUES
                 (%(org)s, 'test', 'delivered', now() - interval '40 days'),
                 (%(org)s, 'test', 'pending', now() - interval '39 days'),
                 (%(org)s, 'test', 'delivered', now() - interval '38 days'),
                 (%(org)s, 'test', 'delivered', now() - interval '1 day')""", {"org": org["id"]})
    done = stack.run(lambda rt: row_retention.run_retention(rt), message_retention_days=30)
    assert done.orphans == 3
    assert [r["twilioSid"] for r in stack.sql('SELECT "twilioSid" FROM "MessageEvent"')] == ["SMunknown2"]
    left = stack.sql('SELECT "state", "createdAt" > now() - interval \'2 days\' AS recent FROM "WebhookEvent" ORDER BY "id"')
    assert [(r["state"], r["recent"]) for r in left] == [("pending", False), ("delivered", True)], \
        "a test event still being delivered waits"

    async def twice(rt) -> tuple[int, int]:
        # The scheduler's process: its walk stopped at the pending event and starts there again.
        first = (await row_retention.run_retention(rt)).orphans
        stack.sql('UPDATE "WebhookEvent" SET "state" = \'delivered\' WHERE "state" = \'pending\'')
        return first, (await row_retention.run_retention(rt)).orphans

    assert stack.run(twice, message_retention_days=30) == (0, 1)
