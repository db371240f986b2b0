"""The send loop's queue ("SendQueue"): claims are disjoint, a lease is exclusive, an enqueue
during a lease leads to exactly one further run, failures and a graceful stop put rows back.

The send function here records what the loop makes it do; what a send does is dispatch's and
has its own tests. The queue and its statements are the real ones on a real database."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

import psycopg

from smsrelay.service import jobs
from smsrelay.service.outbound.send_queue import SendLoop
from smsrelay.store import sql
from tests.support.waiting import wait_until


def _queued(stack, n: int) -> list[str]:
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        return [api.post("/v1/messages", json={"to": f"+1415555{4000 + i:04d}", "body": f"queued {i}"}).json()["id"]
                for i in range(n)]


def _row(stack, message_id: str) -> dict | None:
    rows = stack.sql('SELECT *, "dueAt" <= now() AS due FROM "SendQueue" WHERE "messageId" = %s', (message_id,))
    return rows[0] if rows else None


class Recorder:
    """A send that notes each run and how many ran at once; `gate` (when given) holds runs."""

    def __init__(self, gate: threading.Event | None = None, fail: int = 0):
        self.calls: list[str] = []
        self.running = 0
        self.most = 0
        self.gate = gate
        self.fail = fail
        self.entered = threading.Event()

    async def __call__(self, rt, message_id: str) -> str:
        self.calls.append(message_id)
        self.running += 1
        self.most = max(self.most, self.running)
        self.entered.set()
        try:
            while self.gate is not None and not self.gate.is_set():
                await asyncio.sleep(0.02)
            if self.fail:
                self.fail -= 1
                raise psycopg.OperationalError("a database blip")
            return "sent"
        finally:
            self.running -= 1


def _run_loop(stack, send, until, *, concurrency: int = 5, heartbeat: float = 1.0, timeout: float = 30.0) -> SendLoop:
    """Run a send loop until `until()` holds (checked from another thread), then stop it; fail
    if it does not hold within `timeout`."""
    made: list[SendLoop] = []

    async def go(rt):
        loop = SendLoop(rt, send, concurrency=concurrency, heartbeat=heartbeat)
        made.append(loop)
        stop = asyncio.Event()
        runner = asyncio.create_task(loop.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while not await asyncio.to_thread(until):
                assert asyncio.get_running_loop().time() < deadline, "the loop did not get there"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await runner

    stack.run(go)
    return made[0]


def test_two_concurrent_claimers__never_get_the_same_row(make_stack):
    stack = make_stack(start_worker=False)
    ids = _queued(stack, 12)
    with stack.db() as first, stack.db() as second:
        first.autocommit = second.autocommit = False
        claim = sql.QUERIES["send_queue_claim"]
        # The first claim's transaction is still open (its row locks held) when the second claims.
        a = [r["id"] for r in first.execute(claim, {"owner": "a", "lease": 30, "limit": 5}).fetchall()]
        second.execute("SET lock_timeout = '2s'")
        b = [r["id"] for r in second.execute(claim, {"owner": "b", "lease": 30, "limit": 20}).fetchall()]
        first.commit()
        second.commit()
    assert len(a) == 5 and len(b) == 7
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(ids)
    owners = {r["messageId"]: r["leaseOwner"] for r in stack.sql('SELECT * FROM "SendQueue"')}
    assert all(owners[m] == "a" for m in a) and all(owners[m] == "b" for m in b)
    # Leased rows are not due: nobody else claims them until the lease runs out.
    with stack.db() as third:
        assert third.execute(sql.QUERIES["send_queue_claim"], {"owner": "c", "lease": 30, "limit": 20}).fetchall() == []


def test_a_lease_that_ran_out__is_claimed_by_another_worker(make_stack):
    stack = make_stack(start_worker=False)
    [message_id] = _queued(stack, 1)
    stack.sql("""UPDATE "SendQueue" SET "leaseOwner" = 'dead:1:x', "dueAt" = now() - interval '1 second',
                 "claims" = 1""")
    send = Recorder()
    _run_loop(stack, send, lambda: _row(stack, message_id) is None)
    assert send.calls == [message_id]


def test_enqueue_during_a_lease__one_more_run_after_the_current_one(make_stack):
    stack = make_stack(start_worker=False)
    [message_id] = _queued(stack, 1)
    gate = threading.Event()
    send = Recorder(gate)

    def external_enqueue_then_release() -> bool:
        if not gate.is_set() and send.entered.is_set():
            # The release loop (or an operator's retry) enqueues the leased message, twice.
            stack.run(lambda rt: _enqueue(rt, message_id))
            stack.run(lambda rt: _enqueue(rt, message_id))
            row = _row(stack, message_id)
            gate.set()  # before asserting: a held run would keep the loop from stopping
            assert row["leaseOwner"] and row["rerunAt"] is not None and not row["due"], row
        return gate.is_set() and len(send.calls) >= 2 and _row(stack, message_id) is None

    _run_loop(stack, send, external_enqueue_then_release, heartbeat=60.0)
    assert send.calls == [message_id, message_id], "exactly one further run, none lost"
    assert send.most == 1, "never two runs of one message at once"


def test_enqueue_committed_while_the_finish_waits__is_not_lost(make_stack):
    stack = make_stack(start_worker=False)
    [message_id] = _queued(stack, 1)
    gate = threading.Event()
    send = Recorder(gate)
    holder = stack.db()
    holder.autocommit = False
    state = {"phase": "run"}

    def drive() -> bool:
        if state["phase"] == "run" and send.entered.is_set():
            # An enqueue whose transaction is still open holds the row while the run ends.
            holder.execute(sql.QUERIES["enqueue_send"], {"message_id": message_id, "at": None})
            gate.set()
            state["phase"] = "finishing"
        elif state["phase"] == "finishing" and _blocked_on_lock(stack):
            holder.commit()
            state["phase"] = "committed"
        return state["phase"] == "committed" and len(send.calls) >= 2 and _row(stack, message_id) is None

    try:
        # A lease far longer than the wait: the re-run must come from the finish, not from the
        # lease running out.
        _run_loop(stack, send, drive, heartbeat=60.0)
    finally:
        holder.close()
    assert send.calls == [message_id, message_id]


def _blocked_on_lock(stack) -> bool:
    return bool(stack.sql("""SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                             AND wait_event_type = 'Lock' AND query LIKE '%%mine%%'"""))


async def _enqueue(rt, message_id: str, at: datetime | None = None) -> None:
    async with rt.pool.connection() as conn:
        await jobs.enqueue_send(conn, message_id, at=at)


def test_the_runs_own_retry__reschedules_its_row_for_later(make_stack):
    stack = make_stack(start_worker=False)
    [message_id] = _queued(stack, 1)
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    calls: list[str] = []

    async def send_then_retry_later(rt, mid: str) -> str:
        calls.append(mid)
        await _enqueue(rt, mid, at=later)  # as dispatch's backoff does, inside its run
        return "retry"

    _run_loop(stack, send_then_retry_later, lambda: calls and (r := _row(stack, message_id)) and not r["leaseOwner"])
    row = _row(stack, message_id)
    assert calls == [message_id]
    assert row["leaseOwner"] is None and row["rerunAt"] is None and row["claims"] == 0
    assert abs((row["dueAt"] - later).total_seconds()) < 1


def test_a_run_that_raises__goes_back_with_a_backoff_never_dropped(make_stack):
    stack = make_stack(start_worker=False)
    [message_id] = _queued(stack, 1)
    send = Recorder(fail=1)
    _run_loop(stack, send, lambda: send.calls and (r := _row(stack, message_id)) and not r["leaseOwner"])
    row = _row(stack, message_id)
    assert row is not None, "a failed run keeps its row"
    assert row["claims"] == 1 and not row["due"], "due again only after the backoff"
    # Once due, the next claim runs it again and this time it ends.
    stack.sql("""UPDATE "SendQueue" SET "dueAt" = now()""")
    _run_loop(stack, send, lambda: _row(stack, message_id) is None)
    assert send.calls == [message_id, message_id]


def test_graceful_stop__puts_back_claimed_unstarted_rows_and_finishes_running_ones(make_stack):
    stack = make_stack(start_worker=False)
    ids = _queued(stack, 4)
    started: list[str] = []

    async def send(rt, mid: str) -> str:
        started.append(mid)
        return "sent"

    async def go(rt):
        loop = SendLoop(rt, send, concurrency=4, heartbeat=1.0)
        async with rt.pool.connection() as conn:
            claimed = await sql.all(conn, "send_queue_claim", owner=loop.owner, lease=loop.lease, limit=4)
        running, waiting = claimed[0]["id"], [r["id"] for r in claimed[1:]]
        loop.start(running)
        await asyncio.sleep(0)  # the first one starts; the others are claimed but not begun
        for mid in waiting:
            loop.start(mid)
        await loop.shutdown()
        return running, waiting

    running, waiting = stack.run(go)
    assert started == [running]
    assert _row(stack, running) is None, "the run that started finished and its row went"
    for mid in waiting:
        row = _row(stack, mid)
        assert row["leaseOwner"] is None and row["due"] and row["claims"] == 0, row
    assert sorted([running, *waiting]) == sorted(ids)
