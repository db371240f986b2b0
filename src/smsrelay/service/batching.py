"""Group commit for one process: items of one kind submitted while a statement of that kind is in
the database go together in the next one, one statement and one commit for all. The send path's
reads, markers and results (service/outbound/send_writes.py) and the status callbacks
(service/delivery/callback_batches.py) use it.

Nothing waits to form a batch unless asked (`linger`); a batch is only as large as the traffic
makes it. Two items that share a key never go in one statement (the next takes the later). A
statement that fails (a lock it would deadlock on, a unique key another row holds) is undone
whole and its items are run one by one, each on its own connection, so each caller sees the
error its own item gives and one held row delays only its own caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeVar

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

MAX_BATCH = 64

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Items submitted while a statement of this kind is in the database go in the next one."""

    def __init__(self, pool: AsyncConnectionPool, keys: Callable[[T], Iterable[Hashable]],
                 many: Callable[[AsyncConnection, Sequence[T]], Awaitable[list[R]]],
                 one: Callable[[AsyncConnection, T], Awaitable[R]], *, max_batch: int = MAX_BATCH,
                 linger: float = 0.0, name: str = "batch") -> None:
        self._pool, self._keys, self._many, self._one, self._max = pool, keys, many, one, max_batch
        self._linger, self._name = linger, name
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
        batch, later, taken = [], [], set()
        for entry in self._pending:
            if entry[1].cancelled():
                continue
            keys = set(self._keys(entry[0]))
            if len(batch) < self._max and not keys & taken:
                batch.append(entry)
                taken |= keys
            else:
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
                    log.debug("%s of %d run one by one: %s", self._name, len(batch), exc)
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
                    future.set_exception(RuntimeError(f"{self._name} stopped"))
            self._batch, self._pending = [], []

    async def _alone_one(self, item: T, future: asyncio.Future[R]) -> None:
        try:
            async with self._pool.connection() as conn:
                result = await self._one(conn, item)
        except BaseException as exc:  # noqa: BLE001 - the caller that submitted it handles it
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.statements += 1
        self.items += 1
        if not future.done():
            future.set_result(result)
