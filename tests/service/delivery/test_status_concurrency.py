"""Applying statuses without a prior lock: the callback's one statement and the worker's
advance_by_id decide on the row's newest version, so whatever the interleaving on several
connections, each message ends where domain/status.py's resolve of the same events ends."""

from __future__ import annotations

import asyncio
import itertools
import random

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from smsrelay.domain import status as lattice
from smsrelay.domain.ids import new_id
from smsrelay.service.delivery.callback_batches import CallbackBatches
from smsrelay.service.delivery.status_callbacks import apply_status_callback, parse
from smsrelay.service.delivery.status_updates import advance_by_id
from smsrelay.store.db import make_pool, psycopg_url

ORG = "org_concurrency"
UNKNOWN = {"outcome": "unknown", "hold": {"reason": "unknown_outcome"}, "inFlight": {"token": "run_x"}}
# What the worker writes once Twilio accepted the send (dispatch.SETTLED).
SETTLED = {"inFlight": None, "lastError": None, "hold": None, "outcome": None, "failedChecks": None}


async def _connect(database_url: str, n: int) -> list[psycopg.AsyncConnection]:
    return [await psycopg.AsyncConnection.connect(psycopg_url(database_url), row_factory=dict_row, autocommit=True)
            for _ in range(n)]


async def _message(conn: psycopg.AsyncConnection, *, sid: str | None = None, metadata: dict | None = None) -> str:
    if not await (await conn.execute('SELECT 1 FROM "Org" WHERE "id" = %s', (ORG,))).fetchone():
        await conn.execute('INSERT INTO "Org" ("id", "name") VALUES (%s, %s)', (ORG, "concurrency"))
        await conn.execute('INSERT INTO "OrgSettings" ("orgId") VALUES (%s)', (ORG,))
    message_id = new_id("msg")
    await conn.execute('INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "to", "twilioSid", "metadata") '
                       "VALUES (%s, %s, 'outbound', 'queued', '+14155552671', %s, %s)",
                       (message_id, ORG, sid, psycopg.types.json.Jsonb(metadata or {})))
    return message_id


async def _row(conn: psycopg.AsyncConnection, message_id: str) -> dict:
    return await (await conn.execute('SELECT * FROM "MessageLog" WHERE "id" = %s', (message_id,))).fetchone()


def _sid() -> str:
    return "SM" + new_id("x")[2:].lower().ljust(32, "0")[:32]


async def _wait_blocked(watcher: psycopg.AsyncConnection, pid: int) -> None:
    """Until the backend `pid` waits for a row lock (no sleeping a fixed time)."""
    while not await (await watcher.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'", (pid,))).fetchone():
        await asyncio.sleep(0.01)


def test_a_callback_waiting_for_the_row__is_judged_on_the_version_it_waited_for(database_url):
    """Its snapshot shows 'queued'; a rival commits 'delivered' while it waits: 'sent' is stale."""

    async def run() -> None:
        holder, applier, watcher = await _connect(database_url, 3)
        sid = _sid()
        message_id = await _message(holder, sid=sid)
        async with holder.transaction():
            await advance_by_id(holder, message_id, "delivered")
            pending = asyncio.ensure_future(apply_status_callback(
                applier, {"MessageSid": sid, "MessageStatus": "sent"}, message_id=message_id, idempotency_token=None))
            await _wait_blocked(watcher, applier.info.backend_pid)
        assert await pending == "stale"
        row = await _row(watcher, message_id)
        assert row["status"] == "delivered" and row["finalAt"] is not None
        events = await (await watcher.execute('SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s',
                                              (message_id,))).fetchall()
        assert [e["status"] for e in events] == ["sent"], "the event is stored even when stale"

    asyncio.run(run())


def test_a_worker_write_waiting_for_the_row__never_lowers_it_but_records_the_sid(database_url):
    async def run() -> None:
        holder, writer, watcher = await _connect(database_url, 3)
        message_id = await _message(holder)
        sid = _sid()
        async with holder.transaction():
            await advance_by_id(holder, message_id, "delivered")
            pending = asyncio.ensure_future(advance_by_id(writer, message_id, "sent", twilio_sid=sid, metadata={
                **SETTLED, "twilioErrorCode": "30003", "twilioErrorMessage": "Unreachable"}))
            await _wait_blocked(watcher, writer.info.backend_pid)
        row = await pending
        assert row["status"] == "delivered" and row["twilioSid"] == sid
        assert "twilioErrorCode" not in row["metadata"], "an error of a status not applied is dropped"
        assert row["metadata"]["inFlight"] is None

    asyncio.run(run())


def test_a_late_worker_result_after_delivered__keeps_delivered_and_records_the_sid(database_url):
    """Twilio's callback overtook the worker's write of what Twilio answered to the send."""

    async def run() -> None:
        (conn,) = await _connect(database_url, 1)
        for late in ("queued", "accepted", "sent"):
            message_id = await _message(conn, metadata={"inFlight": {"token": "run_a"}})
            sid = _sid()
            assert await apply_status_callback(conn, {"MessageSid": sid, "MessageStatus": "delivered"},
                                               message_id=message_id, idempotency_token=None) == "applied"
            before = await _row(conn, message_id)
            await conn.execute('UPDATE "MessageLog" SET "twilioSid" = NULL WHERE "id" = %s', (message_id,))
            row = await advance_by_id(conn, message_id, late, twilio_sid=sid, metadata=SETTLED)
            assert row["status"] == "delivered", late
            assert row["twilioSid"] == sid and row["metadata"]["inFlight"] is None
            assert row["finalAt"] == before["finalAt"] and row["sentAt"] == before["sentAt"]

    asyncio.run(run())


def test_advance_by_id__sets_sent_and_final_times_as_the_status_moves(database_url):
    async def run() -> None:
        (conn,) = await _connect(database_url, 1)
        message_id = await _message(conn, metadata=UNKNOWN)
        row = await advance_by_id(conn, message_id, "queued", twilio_sid=None)
        assert row["status"] == "queued" and row["metadata"]["outcome"] == "unknown", "'queued' says nothing"
        row = await advance_by_id(conn, message_id, "sent", twilio_sid=_sid())
        assert row["sentAt"] is not None and row["finalAt"] is None
        assert {k: row["metadata"][k] for k in ("outcome", "hold", "inFlight")} == dict.fromkeys(("outcome", "hold", "inFlight"))
        row = await advance_by_id(conn, message_id, "undelivered", metadata={"twilioErrorCode": "30003"})
        assert row["finalAt"] is not None and row["metadata"]["twilioErrorCode"] == "30003"
        assert await advance_by_id(conn, "msg_missing", "sent") is None

    asyncio.run(run())


# Each message gets a set of events whose outcome does not depend on their order (checked by
# resolving every permutation): with one final status per message, as Twilio sends them.
CALLBACKS = [("queued", None), ("sent", None), ("delivered", None), ("undelivered", "30003"),
             ("failed", "30008"), ("read", None)]
WORKER = ["queued", "accepted", "sent"]


def _order_free(statuses: list[str]) -> bool:
    return len({lattice.resolve(["queued", *p]) for p in itertools.permutations(statuses)}) == 1


@st.composite
def message_plans(draw):
    callbacks = draw(st.lists(st.sampled_from(CALLBACKS), min_size=1, max_size=4, unique=True)
                     .filter(lambda cs: _order_free([s for s, _ in cs])))
    worker = draw(st.lists(st.sampled_from(WORKER), max_size=2, unique=True))
    return {"callbacks": callbacks, "worker": worker, "sid_known": draw(st.booleans()),
            "unknown_outcome": draw(st.booleans()), "by_sid_only": draw(st.booleans())}


CONNECTIONS = 4


@pytest.mark.parametrize("path", ["statement", "batches"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans=st.lists(message_plans(), min_size=2, max_size=5), seed=st.integers(0, 2 ** 32 - 1))
def test_concurrent_callbacks_and_worker_writes__converge_on_the_lattice(database_url, path, plans, seed):
    """"statement": each connection runs each callback's statement; "batches": each connection
    stands for an API process whose callbacks go through its own CallbackBatches (and pool)."""
    rnd = random.Random(seed)

    async def run() -> None:
        conns = await _connect(database_url, CONNECTIONS + 1)
        check = conns[-1]
        pools = [make_pool(psycopg_url(database_url), max_size=4, name="test") for _ in range(CONNECTIONS)]
        for pool in pools:
            await pool.open(wait=True)
        batches = [CallbackBatches(pool) for pool in pools]
        work: list[tuple] = []
        messages = []
        for plan in plans:
            sid = _sid()
            message_id = await _message(check, sid=sid if plan["sid_known"] else None,
                                        metadata=UNKNOWN if plan["unknown_outcome"] else None)
            messages.append((message_id, sid, plan))
            for status, code in plan["callbacks"]:
                params = {"MessageSid": sid, "MessageStatus": status, **({"ErrorCode": code} if code else {})}
                # Without our id in the URL only a sid already recorded finds the message.
                url_id = None if plan["by_sid_only"] and plan["sid_known"] else message_id
                work.append(("callback", message_id, (params, url_id, f"{sid}-{status}")))
            work += [("worker", message_id, (status, sid)) for status in plan["worker"]]
        results: dict[tuple, list[str]] = {}
        spans: list[tuple[int, float, float]] = []
        loop = asyncio.get_running_loop()

        async def apply(i: int, conn: psycopg.AsyncConnection, plan: list[tuple]) -> None:
            for kind, message_id, args in plan:
                start = loop.time()
                if kind == "callback":
                    params, url_id, token = args
                    if path == "batches":
                        callback = parse(params, message_id=url_id, idempotency_token=token)
                        result = await batches[i].apply(callback)
                    else:
                        result = await apply_status_callback(conn, params, message_id=url_id, idempotency_token=token)
                    results.setdefault((message_id, params["MessageStatus"]), []).append(result)
                else:
                    await advance_by_id(conn, message_id, args[0], twilio_sid=args[1], metadata=SETTLED)
                spans.append((i, start, loop.time()))

        # Every connection applies every event (so each is duplicated) in its own order; with
        # batches, each "process" submits all its callbacks at once so that they share batches.
        orders = [rnd.sample(work, len(work)) for _ in range(CONNECTIONS)]

        async def submit(i: int, conn: psycopg.AsyncConnection, order: list[tuple]) -> None:
            if path == "batches":
                await asyncio.gather(*(apply(i, conn, [item]) for item in order))
            else:
                await apply(i, conn, order)

        await asyncio.gather(*(submit(i, c, order) for i, (c, order) in enumerate(zip(conns, orders))))
        assert any(a != b and s1 < e2 and s2 < e1 for a, s1, e1 in spans for b, s2, e2 in spans), \
            "statements of different connections overlapped"

        for message_id, sid, plan in messages:
            statuses = [s for s, _ in plan["callbacks"]] + plan["worker"]
            expected = lattice.resolve(["queued", *statuses])
            row = await _row(check, message_id)
            assert row["status"] == expected, (plan, row["status"])
            assert row["twilioSid"] == sid
            assert (row["finalAt"] is not None) == lattice.is_final(expected)
            if expected in ("sent", "delivered", "undelivered", "read"):
                assert row["sentAt"] is not None
            codes = dict(plan["callbacks"])
            assert row["metadata"].get("twilioErrorCode") == codes.get(expected)
            if expected != "queued":
                assert row["metadata"].get("outcome") is None, "Twilio has spoken: the unknown outcome is settled"
            events = await (await check.execute('SELECT count(*) AS n FROM "MessageEvent" WHERE "twilioSid" = %s',
                                                (sid,))).fetchone()
            assert events["n"] == len(plan["callbacks"]), "each distinct event stored once"
            for status, _ in plan["callbacks"]:
                got = results[(message_id, status)]
                first = [r for r in got if r != "duplicate"]
                assert len(got) == CONNECTIONS and len(first) == 1 and first[0] in ("applied", "stale"), got
        for c in conns:
            await c.close()
        for pool in pools:
            await pool.close()

    asyncio.run(run())


def test_a_batch_meeting_a_held_row__does_not_make_the_other_callbacks_wait(database_url):
    """The row of one callback is locked by a rival: the others of its batch are answered while
    the rival still holds it, and that callback once the rival commits."""

    async def run() -> None:
        holder, watcher = await _connect(database_url, 2)
        pool = make_pool(psycopg_url(database_url), max_size=4, name="test")
        await pool.open(wait=True)
        batches = CallbackBatches(pool)
        held = [(await _message(holder, sid=s), s) for s in (_sid(), _sid())]
        free = [(await _message(holder, sid=s), s) for s in (_sid(), _sid(), _sid())]

        def submit(message_id: str, sid: str, status: str) -> asyncio.Future:
            return asyncio.ensure_future(batches.apply(parse({"MessageSid": sid, "MessageStatus": status},
                                                             message_id=message_id, idempotency_token=None)))

        async with holder.transaction():
            for message_id, _ in held:
                await advance_by_id(holder, message_id, "delivered")
            pending_held = [submit(m, s, "sent") for m, s in held]
            pending_free = [submit(m, s, "delivered") for m, s in free]
            assert await asyncio.gather(*pending_free) == ["applied"] * 3
            assert not any(p.done() for p in pending_held), "the held rows' callbacks wait for their rows"
        assert await asyncio.gather(*pending_held) == ["stale", "stale"]
        for message_id, _ in held + free:
            assert (await _row(watcher, message_id))["status"] == "delivered"
        await pool.close()

    asyncio.run(run())


def test_callbacks_naming_one_message__never_share_a_batch(database_url):
    """'sent' and 'delivered' for one message, submitted together, are both applied in order of
    arrival (one statement cannot update a row twice), and a duplicate is a duplicate."""

    async def run() -> None:
        (conn,) = await _connect(database_url, 1)
        pool = make_pool(psycopg_url(database_url), max_size=2, name="test")
        await pool.open(wait=True)
        batches = CallbackBatches(pool)
        sid = _sid()
        message_id = await _message(conn)
        statuses = ["sent", "delivered", "delivered", "sent"]
        got = await asyncio.gather(*(batches.apply(parse(
            {"MessageSid": sid, "MessageStatus": s}, message_id=message_id, idempotency_token=None))
            for s in statuses))
        assert got == ["applied", "applied", "duplicate", "duplicate"]
        row = await _row(conn, message_id)
        assert row["status"] == "delivered" and row["twilioSid"] == sid
        await pool.close()

    asyncio.run(run())
