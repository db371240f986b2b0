"""The send path's per-message statements, taken together: the sends of one worker process that
read their facts, mark themselves in flight or record Twilio's answer at the same moment share
one statement (and one commit) instead of one each.

It is group commit: a statement goes as soon as the previous one of its kind is back, with
whatever arrived meanwhile (a claim starts its rows together, so their reads and markers meet);
only results, which come back spread over Twilio's latency, wait a few milliseconds for others. Each send still waits for its own row's outcome before it goes on, so a marker is
committed before its request to Twilio exactly as when it was alone. Two items naming one
message never share a statement, and a statement that fails (a lock it would wait for a
deadlock on, a sid already another row's) is undone whole and its items are run one by one, so
each send sees the error its own statement gives.

Twilio's answer is committed without waiting for its WAL flush (`synchronous_commit = off` for
that statement alone, `record_results` in dispatch.sql). Losing it to a crash of PostgreSQL is
harmless: the in-flight marker committed before the request (synchronously) stays, the
"SendQueue" row stays too (its finish commits later in the WAL, so it cannot survive a result
that was lost), and the lease runs out into a re-run that asks Twilio and adopts the copy — or a
status callback, which carries our id, records the sid first. The marker and the status
callbacks keep waiting for their flush: losing a marker would let a re-run send again, and a
callback Twilio was answered for is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from smsrelay.store import sql

log = logging.getLogger(__name__)

MAX_BATCH = 64
# Twilio's answers arrive spread over its latency, so without waiting they would go one by one.
# A result waits this long for others: the send is over, only its slot is held a little longer.
RESULT_LINGER_SECONDS = 0.015

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Items submitted while a statement of this kind is in the database go in the next one."""

    def __init__(self, pool: AsyncConnectionPool, key: Callable[[T], Hashable],
                 many: Callable[[AsyncConnection, Sequence[T]], Awaitable[list[R]]],
                 one: Callable[[AsyncConnection, T], Awaitable[R]], *, max_batch: int = MAX_BATCH,
                 linger: float = 0.0) -> None:
        self._pool, self._key, self._many, self._one, self._max = pool, key, many, one, max_batch
        self._linger = linger
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._batch: list[tuple[T, asyncio.Future[R]]] = []
        self._alone: set[asyncio.Task[None]] = set()
        self.statements = 0  # for tests and the benchmark: how many statements carried the items
        self.items = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        batch, later, keys = [], [], set()
        for entry in self._pending:
            key = self._key(entry[0])
            if len(batch) < self._max and key not in keys and not entry[1].cancelled():
                batch.append(entry)
                keys.add(key)
            elif not entry[1].cancelled():
                later.append(entry)
        self._pending = later
        return batch

    async def _flush(self) -> None:
        try:
            if self._linger:
                await asyncio.sleep(self._linger)
            while self._pending:
                self._batch = batch = self._next_batch()
                if not batch:
                    continue
                if len(batch) == 1:
                    await self._alone_one(*batch[0])
                    self._batch = []
                    continue
                try:
                    async with self._pool.connection() as conn:
                        results = await self._many(conn, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - undone whole: each item gets its own outcome
                    log.debug("send batch of %d run one by one: %s", len(batch), exc)
                    for entry in batch:
                        task = asyncio.create_task(self._alone_one(*entry))
                        self._alone.add(task)
                        task.add_done_callback(self._alone.discard)
                    self._batch = []
                    continue
                self.statements += 1
                self.items += len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                self._batch = []
        finally:
            self._flusher = None
            for _, future in self._batch + self._pending:  # unresolved only if the loop itself broke
                if not future.done():
                    future.set_exception(RuntimeError("send batch stopped"))
            self._batch, self._pending = [], []

    async def _alone_one(self, item: T, future: asyncio.Future[R]) -> None:
        try:
            async with self._pool.connection() as conn:
                result = await self._one(conn, item)
        except BaseException as exc:  # noqa: BLE001 - the send that submitted it handles it
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.statements += 1
        self.items += 1
        if not future.done():
            future.set_result(result)


# ---- the three kinds ----

async def _facts_one(conn: AsyncConnection, item: tuple[str, str]) -> dict[str, Any] | None:
    return await sql.one(conn, "send_facts", ids=[item[0]], pause_key=item[1])


async def _facts_many(conn: AsyncConnection, items: Sequence[tuple[str, str]]) -> list[dict[str, Any] | None]:
    rows = await sql.all(conn, "send_facts", ids=[i for i, _ in items], pause_key=items[0][1])
    by_id = {row["id"]: row for row in rows}
    return [by_id.get(i) for i, _ in items]


@dataclass(frozen=True)
class Marker:
    """mark_in_flight's arguments (dispatch.sql)."""
    message_id: str
    read_token: str | None
    read_attempts: int
    log_send: bool
    metadata: dict[str, Any]


async def _mark_one(conn: AsyncConnection, m: Marker) -> bool:
    return await sql.one(conn, "mark_in_flight", id=m.message_id, read_token=m.read_token,
                         read_attempts=m.read_attempts, log_send=m.log_send, metadata=m.metadata) is not None


async def _mark_many(conn: AsyncConnection, items: Sequence[Marker]) -> list[bool]:
    marked = {row["id"] for row in await sql.all(
        conn, "mark_in_flight_many", ids=[m.message_id for m in items], read_tokens=[m.read_token for m in items],
        read_attempts=[m.read_attempts for m in items], log_sends=[m.log_send for m in items],
        metadata=[Jsonb(m.metadata) for m in items])}
    return [m.message_id in marked for m in items]


@dataclass(frozen=True)
class Result:
    """What Twilio answered for one send, to be written through the lattice."""
    message_id: str
    status: str
    sid: str
    metadata: dict[str, Any]


async def _record_one(conn: AsyncConnection, r: Result) -> bool:
    return await sql.one(conn, "record_results", ids=[r.message_id], statuses=[r.status], sids=[r.sid],
                         metadata=[Jsonb(r.metadata)]) is not None


async def _record_many(conn: AsyncConnection, items: Sequence[Result]) -> list[bool]:
    found = {row["id"] for row in await sql.all(
        conn, "record_results", ids=[r.message_id for r in items], statuses=[r.status for r in items],
        sids=[r.sid for r in items], metadata=[Jsonb(r.metadata) for r in items])}
    return [r.message_id in found for r in items]


class SendWrites:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.facts: Batcher[tuple[str, str], dict[str, Any] | None] = Batcher(
            pool, lambda item: item[0], _facts_many, _facts_one)
        self.markers: Batcher[Marker, bool] = Batcher(pool, lambda m: m.message_id, _mark_many, _mark_one)
        self.results: Batcher[Result, bool] = Batcher(pool, lambda r: r.message_id, _record_many, _record_one,
                                                      linger=RESULT_LINGER_SECONDS)


_BY_POOL: weakref.WeakKeyDictionary[AsyncConnectionPool, SendWrites] = weakref.WeakKeyDictionary()


def for_pool(pool: AsyncConnectionPool) -> SendWrites:
    """The process's batches for this pool (one per pool, so per event loop), holding it weakly."""
    writes = _BY_POOL.get(pool)
    if writes is None:
        writes = _BY_POOL[pool] = SendWrites(weakref.proxy(pool))
    return writes
