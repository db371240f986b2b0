"""The sends of one worker share their reads, markers and results (send_writes.py): each item is
still decided on its own row, a failing statement is undone and retried item by item, and only
the result statement gives up waiting for its WAL flush."""

from __future__ import annotations

import asyncio
import itertools

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from smsrelay.domain import status as lattice
from smsrelay.domain.ids import new_id
from smsrelay.service.delivery.status_updates import advance_by_id
from smsrelay.service.outbound import guards
from smsrelay.service.outbound.send_writes import Marker, Result, SendWrites
from smsrelay.store.db import make_pool, psycopg_url

ORG = "org_send_writes"
SETTLED = {"inFlight": None, "lastError": None, "hold": None, "outcome": None, "failedChecks": None}


def _sid() -> str:
    return "SM" + new_id("x")[2:].lower().ljust(32, "0")[:32]


async def _message(conn, *, status: str = "queued", sid: str | None = None, metadata: dict | None = None) -> str:
    if not await (await conn.execute('SELECT 1 FROM "Org" WHERE "id" = %s', (ORG,))).fetchone():
        await conn.execute('INSERT INTO "Org" ("id", "name") VALUES (%s, %s)', (ORG, "send writes"))
        await conn.execute('INSERT INTO "OrgSettings" ("orgId") VALUES (%s)', (ORG,))
    message_id = new_id("msg")
    await conn.execute('INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "to", "twilioSid", "metadata") '
                       "VALUES (%s, %s, 'outbound', %s, '+14155552671', %s, %s)",
                       (message_id, ORG, status, sid, Jsonb(metadata or {})))
    return message_id


async def _row(conn, message_id: str) -> dict:
    return await (await conn.execute('SELECT * FROM "MessageLog" WHERE "id" = %s', (message_id,))).fetchone()


def _run(database_url, body):
    async def go():
        pool = make_pool(database_url, max_size=2, name="test-send-writes")
        await pool.open(wait=True)
        try:
            async with await psycopg.AsyncConnection.connect(psycopg_url(database_url), row_factory=dict_row,
                                                             autocommit=True) as conn:
                return await body(pool, SendWrites(pool), conn)
        finally:
            await pool.close()
    return asyncio.run(go())


def _marker(message_id: str, *, token: str | None = None, attempts: int = 0, log_send: bool = True) -> Marker:
    return Marker(message_id, read_token=token, read_attempts=attempts, log_send=log_send,
                  metadata={"attempts": attempts + 1, "inFlight": {"token": new_id("run")}})


def test_markers_sharing_a_statement__each_is_fenced_by_its_own_read(database_url):
    async def body(pool, writes, conn):
        fresh = await _message(conn)
        taken_over = await _message(conn, metadata={"inFlight": {"token": "run_other"}, "attempts": 1})
        retried = await _message(conn, metadata={"inFlight": {"token": "run_mine"}, "attempts": 1})
        sent = await _message(conn, sid=_sid())
        marked = await asyncio.gather(
            writes.markers.submit(_marker(fresh)),
            writes.markers.submit(_marker(taken_over)),  # read before the other run wrote its token
            writes.markers.submit(_marker(retried, token="run_mine", attempts=1, log_send=False)),
            writes.markers.submit(_marker(sent)))
        assert marked == [True, False, True, False]
        assert (writes.markers.statements, writes.markers.items) == (1, 4), "one statement for the four"
        assert (await _row(conn, taken_over))["metadata"]["inFlight"]["token"] == "run_other", "left alone"
        assert (await _row(conn, retried))["metadata"]["attempts"] == 2
        logged = await (await conn.execute('SELECT "messageId" FROM "SendSlot" WHERE "orgId" = %s', (ORG,))).fetchall()
        assert [r["messageId"] for r in logged] == [fresh], "only the marked send that asked is logged"

    _run(database_url, body)


def test_a_message_twice_at_once__goes_in_two_statements(database_url):
    async def body(pool, writes, conn):
        message_id = await _message(conn)
        first, second = await asyncio.gather(writes.markers.submit(_marker(message_id)),
                                             writes.markers.submit(_marker(message_id)))
        assert (first, second) == (True, False), "the second read is out of date once the first marked"
        assert writes.markers.statements == 2

    _run(database_url, body)


def test_a_result_whose_sid_is_taken__fails_alone_and_the_others_are_recorded(database_url):
    """The batch's one statement is undone whole; each item then runs alone, so only the send
    whose sid belongs to another row sees the error (dispatch holds it as an unknown outcome)."""
    async def body(pool, writes, conn):
        sid = _sid()
        await _message(conn, status="sent", sid=sid)
        good, clash, other = await _message(conn), await _message(conn), await _message(conn)
        results = await asyncio.gather(
            writes.results.submit(Result(good, "queued", _sid(), SETTLED)),
            writes.results.submit(Result(clash, "queued", sid, SETTLED)),
            writes.results.submit(Result(other, "sent", _sid(), SETTLED)), return_exceptions=True)
        assert results[0] is True and results[2] is True
        assert isinstance(results[1], psycopg.errors.UniqueViolation)
        assert (await _row(conn, good))["twilioSid"] is not None
        assert (await _row(conn, other))["status"] == "sent"
        assert (await _row(conn, clash))["twilioSid"] is None

    _run(database_url, body)


def test_record_results__writes_what_update_message_writes_for_every_pair_of_statuses(database_url):
    """The batched result repeats update_message's lattice; both are run on twin rows for every
    status a row can hold and every status Twilio can answer, and must leave the same rows."""
    compared = ("status", "twilioSid", "metadata", "sentAt", "finalAt")

    async def body(pool, writes, conn):
        pairs = list(itertools.product(sorted(lattice.OUTBOUND_STATUSES),
                                       ("queued", "accepted", "sending", "sent", "delivered", "failed")))
        twins, items = [], []
        for before, answer in pairs:
            meta = {"inFlight": {"token": "run_a"}, "outcome": "unknown"} if before == "queued" else {}
            one = await _message(conn, status=before, metadata=meta)
            many = await _message(conn, status=before, metadata=meta)
            sid = _sid()
            answer_meta = {**SETTLED, "twilioErrorCode": "30003", "twilioErrorMessage": "Unreachable"}
            await advance_by_id(conn, one, answer, twilio_sid=sid, metadata=answer_meta)
            twins.append((one, many))
            items.append(Result(many, answer, sid.replace("SM", "SN"), answer_meta))
        await asyncio.gather(*(writes.results.submit(item) for item in items))
        assert writes.results.statements < len(items)
        for (one, many), (before, answer) in zip(twins, pairs):
            a, b = await _row(conn, one), await _row(conn, many)
            assert _same(a, b, compared), (before, answer, a, b)

    _run(database_url, body)


def _same(a: dict, b: dict, compared: tuple[str, ...]) -> bool:
    """The sids differ by design, and sentAt/finalAt are now(): those compare as set or unset."""
    return all((a[k] is None) == (b[k] is None) if k in ("sentAt", "finalAt", "twilioSid") else a[k] == b[k]
               for k in compared)


def test_the_result_statement_alone_skips_the_flush__the_next_statement_on_its_connection_waits(database_url):
    """A marker must be flushed before its request to Twilio: the result's setting must not stay
    on the pooled connection that the next marker may take."""
    async def body(pool, writes, conn):
        message_id = await _message(conn)
        single = make_pool(database_url, max_size=1, name="test-send-writes-one")
        await single.open(wait=True)
        try:
            alone = SendWrites(single)
            assert await alone.results.submit(Result(message_id, "sent", _sid(), SETTLED)) is True
            async with single.connection() as c:
                assert (await (await c.execute("SHOW synchronous_commit")).fetchone())["synchronous_commit"] == "on"
        finally:
            await single.close()

    _run(database_url, body)


def test_facts_of_sends_starting_together__one_read(database_url):
    async def body(pool, writes, conn):
        ids = [await _message(conn) for _ in range(5)]
        rows = await asyncio.gather(*(writes.facts.submit((i, guards.KILL_SWITCH_KEY)) for i in [*ids, "msg_missing"]))
        assert [r["id"] for r in rows[:5]] == ids and rows[5] is None
        assert writes.facts.statements == 1

    _run(database_url, body)


def test_a_lone_item__goes_at_once(database_url):
    async def body(pool, writes, conn):
        message_id = await _message(conn)
        assert await writes.markers.submit(_marker(message_id)) is True
        assert writes.markers.statements == 1

    _run(database_url, body)


def test_results_arriving_a_little_apart__share_a_statement(database_url):
    """Twilio's answers come back spread over its latency: a result waits a few milliseconds
    for the others instead of taking a statement (and a commit) of its own."""
    async def body(pool, writes, conn):
        ids = [await _message(conn) for _ in range(3)]

        async def later(i: int, message_id: str) -> bool:
            await asyncio.sleep(i * 0.004)
            return await writes.results.submit(Result(message_id, "sent", _sid(), SETTLED))

        assert await asyncio.gather(*(later(i, m) for i, m in enumerate(ids))) == [True, True, True]
        assert (writes.results.statements, writes.results.items) == (1, 3)

    _run(database_url, body)
