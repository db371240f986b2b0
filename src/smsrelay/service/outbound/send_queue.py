"""The send loop: claims due "SendQueue" rows in batches under a lease and runs each send.

A lease is the row's "dueAt" pushed into the future with this worker's name on it, renewed by
the heartbeat for as long as the send runs. A worker that dies (SIGKILL, a lost machine) just
stops renewing: its rows come due again and another worker claims them, and dispatch's
in-flight marker and fencing token make that re-run safe. So there is no stalled-job sweep and
no registration to wait for.

Statements per send are amortised: one claim takes as many rows as there are free slots, one
finish ends every run that completed since the last one, one renewal covers every lease.
Every statement is a lone autocommit statement: the claim has committed before dispatch
starts, and no connection is held while a send waits for Twilio.

With `send_claimed` (the worker's dispatch.send_claimed) the claim also marks in flight every
claimed message nothing but the send is left to decide for (send_queue_claim_marked), and that
send's result finishes its row: two statements and two commits per batch of such sends, one of
them synchronous. The rest go through `send` one by one, as before.

The loop paces its claims (admission control): at most one claim per `claim_interval` while
rows keep coming, so a claim takes a batch rather than the one slot just freed, and, with
`max_per_second`, a token bucket caps the sends this process starts. What is not claimed waits
in "SendQueue", costing nothing, instead of competing with accept for the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from smsrelay import failpoints
from smsrelay.service.outbound import guards
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql
from smsrelay.store.db import psycopg_url

log = logging.getLogger(__name__)

# New rows wake the loop by NOTIFY; a row deferred to a later time (a throttled send, a retry)
# comes due without one, so the loop also polls, often enough that a rate limit does not lag.
POLL_SECONDS = 0.5
# A run that raised: back in line after min(cap, base * 2^(claims - 1)) seconds.
FAIL_BASE_SECONDS = 1.0
FAIL_CAP_SECONDS = 300.0
# Past this many claims without a run that ended, every failure is logged as an ERROR.
FAIL_LOUD_AFTER = 10
BACKOFF_MAX_SECONDS = 15.0
# The queue is vacuumed once its dead rows pass this many and outnumber its live rows: on a
# server without autovacuum (or one whose thresholds suit big tables) it would otherwise grow
# and every claim would walk the dead index entries.
VACUUM_DEAD_ROWS = 5000

Send = Callable[[Runtime, str], Awaitable[str]]
# A send the claim marked: its claimed row and the lease owner; returns the outcome and whether
# its result finished the row.
SendClaimed = Callable[[Runtime, dict[str, Any], str], Awaitable[tuple[str, bool]]]


def worker_id() -> str:
    """Unique per process and start; the pid lets a test or an operator tell whose lease it is."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


class SendLoop:
    def __init__(self, rt: Runtime, send: Send, *, concurrency: int = 20, heartbeat: float = 10.0,
                 send_claimed: SendClaimed | None = None, claim_interval: float = 0.0,
                 max_per_second: float | None = None):
        self.rt = rt
        self.send = send
        self.send_claimed = send_claimed
        self.claim_interval = claim_interval
        self.max_per_second = max_per_second
        # The token bucket: a second's worth at most, at least one send.
        self.burst = max(1.0, max_per_second or 0.0)
        self.tokens = self.burst
        self.refilled = time.monotonic()
        self.next_claim = 0.0
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.lease = 3 * heartbeat
        self.owner = worker_id()
        self.running: dict[str, asyncio.Task[str | tuple[str, bool]]] = {}
        self.started: set[str] = set()
        self.ended: list[str] = []
        self.failed: list[tuple[str, BaseException]] = []
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: then no more claims, running sends finish, unstarted ones go back."""
        helpers = [asyncio.create_task(self._listen(stop)), asyncio.create_task(self._beat(stop))]
        delay = 0.0
        try:
            while not stop.is_set():
                try:
                    more = await self.step()
                    delay = 0.0
                except Exception as exc:  # the database went away: keep the sends, try again
                    delay = min(max(delay * 2, 0.5), BACKOFF_MAX_SECONDS)
                    log.warning("send loop: %s: %s; trying again in %.1fs", type(exc).__name__, exc, delay)
                    more = False
                if more:
                    continue
                await self._wait(stop, delay or POLL_SECONDS)
        finally:
            stopper = asyncio.create_task(self.shutdown())
            try:
                await asyncio.shield(stopper)
            except asyncio.CancelledError:
                # Cancelled again while stopping: the sends end now; their leases run out.
                for task in self.running.values():
                    task.cancel()
                raise
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)

    async def step(self) -> bool:
        """Finish what ended, claim up to the free slots; True when more rows may be due now."""
        rearmed = await self.flush()
        free = self.concurrency - len(self.running)
        if free <= 0:
            return False
        await asyncio.sleep(max(0.0, self.next_claim - time.monotonic()))
        limit = min(free, self._allowance())
        if limit <= 0:
            self.next_claim = time.monotonic() + (1.0 - self.tokens) / (self.max_per_second or 1.0)
            return True
        claimed = await self._claim(limit)
        if claimed:
            self.next_claim = time.monotonic() + self.claim_interval
            if self.max_per_second:
                self.tokens -= len(claimed)
        for row in claimed:
            self.start(row["id"], row if row.get("marked") else None)
        return len(claimed) == limit or rearmed > 0

    def _allowance(self) -> int:
        if not self.max_per_second:
            return self.concurrency
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.max_per_second)
        self.refilled = now
        return int(self.tokens)

    async def _claim(self, limit: int) -> list[dict[str, Any]]:
        if self.send_claimed is None:
            async with self.rt.pool.connection() as conn:
                return await sql.all(conn, "send_queue_claim", owner=self.owner, lease=self.lease, limit=limit)
        # The claim is the fence of the sends it marks: the last point before it is theirs.
        failpoints.hit("before_send")
        async with self.rt.pool.connection() as conn:
            return await sql.all(conn, "send_queue_claim_marked", owner=self.owner, lease=self.lease, limit=limit,
                                 enabled=self.rt.settings.feature_sms_enabled, pause_key=guards.KILL_SWITCH_KEY)

    def start(self, message_id: str, marked: dict[str, Any] | None = None) -> None:
        task = asyncio.create_task(self._run(message_id, marked))
        self.running[message_id] = task
        task.add_done_callback(lambda t, m=message_id: self._ended(m, t))

    async def _run(self, message_id: str, marked: dict[str, Any] | None) -> str | tuple[str, bool]:
        self.started.add(message_id)
        if marked is not None and self.send_claimed is not None:
            return await self.send_claimed(self.rt, marked, self.owner)
        return await self.send(self.rt, message_id)

    def _ended(self, message_id: str, task: asyncio.Task[str | tuple[str, bool]]) -> None:
        self.running.pop(message_id, None)
        self.started.discard(message_id)
        if task.cancelled():
            pass  # stopped before it began (put back) or a hard stop (its lease runs out)
        elif task.exception() is not None:
            self.failed.append((message_id, task.exception()))
        elif not (isinstance(task.result(), tuple) and task.result()[1]):
            self.ended.append(message_id)  # (a claimed send's result finished its row already)
        self.wake.set()

    async def flush(self) -> int:
        """One statement for every run that ended; failures go back in line one by one (rare).
        Returns how many rows were re-armed due now (a re-run asked for during their run)."""
        rearmed = 0
        if self.ended:
            ids, self.ended = self.ended, []
            try:
                async with self.rt.pool.connection() as conn:
                    done = await sql.one(conn, "send_queue_finish", owner=self.owner, ids=ids)
                rearmed = done["dueNow"] if done else 0
            except BaseException:
                self.ended = ids + self.ended
                raise
        while self.failed:
            message_id, exc = self.failed[0]
            async with self.rt.pool.connection() as conn:
                row = await sql.one(conn, "send_queue_fail", owner=self.owner, id=message_id,
                                    base=FAIL_BASE_SECONDS, cap=FAIL_CAP_SECONDS)
            self.failed.pop(0)
            claims = row["claims"] if row else 0
            level = logging.ERROR if claims >= FAIL_LOUD_AFTER else logging.WARNING
            log.log(level, "send %s raised %s: %s (claim %d); back in line after a backoff", message_id,
                    type(exc).__name__, exc, claims, exc_info=exc if level == logging.ERROR else None)
        return rearmed

    async def shutdown(self) -> None:
        unstarted = [m for m, t in self.running.items() if m not in self.started]
        for message_id in unstarted:
            self.running[message_id].cancel()
        if unstarted:
            with contextlib.suppress(Exception):
                async with self.rt.pool.connection() as conn:
                    await sql.execute(conn, "send_queue_put_back", owner=self.owner, ids=unstarted)
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        try:
            await self.flush()
            async with self.rt.pool.connection() as conn:
                await sql.execute(conn, "send_worker_gone", owner=self.owner)
        except Exception as exc:  # their leases run out; another worker's re-run sees them settled
            log.warning("send loop: could not finish on stop (%s: %s)", type(exc).__name__, exc)

    async def renew(self) -> None:
        async with self.rt.pool.connection() as conn:
            await sql.execute(conn, "send_queue_renew", owner=self.owner, lease=self.lease, ids=list(self.running))

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({stopping, woken}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            woken.cancel()
        self.wake.clear()

    async def _beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.renew()
            except Exception as exc:
                log.warning("send loop heartbeat: %s: %s", type(exc).__name__, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.heartbeat)

    async def _listen(self, stop: asyncio.Event) -> None:
        """NOTIFY from the "SendQueue" insert trigger, on a connection of its own; polling covers
        the time it is down."""
        delay = 0.5
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                        psycopg_url(self.rt.database_url), autocommit=True,
                        application_name="smsrelay-send-listen") as conn:
                    await sql.execute(conn, "send_queue_listen")
                    delay = 0.5
                    async for _ in conn.notifies():
                        self.wake.set()
            except Exception as exc:
                log.info("send loop listener: %s: %s; polling meanwhile", type(exc).__name__, exc)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, BACKOFF_MAX_SECONDS)


async def vacuum_if_bloated(rt: Runtime) -> bool:
    """VACUUM "SendQueue" when its dead rows outnumber its live ones (the maintenance loop's
    duty, any worker may do it); True when it ran."""
    async with rt.pool.connection() as conn:
        row = await sql.one(conn, "send_queue_bloat")
        if row is None or row["dead"] < max(VACUUM_DEAD_ROWS, row["live"]):
            return False
        await sql.execute(conn, "send_queue_vacuum")
    return True
