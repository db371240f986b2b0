"""Status callbacks of one process applied together: those that arrive while a batch is in the
database go in the next one, one statement and one commit for all.

Each request still gets its answer only once its event is committed. Nothing waits to form a
batch (a lone callback goes at once); the batch is only as large as the traffic makes it. Two
callbacks that can name the same message never share a batch (the next one takes the later),
and a batch that meets a locked row, or fails for any other reason, is applied one callback at
a time instead, each on its own connection, so one held row or one bad callback delays only
its own request and the batches behind it never queue for it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from psycopg_pool import AsyncConnectionPool

from smsrelay.service.delivery.status_callbacks import Callback, apply_many, apply_one

log = logging.getLogger(__name__)

MAX_BATCH = 64


class CallbackBatches:
    def __init__(self, pool: AsyncConnectionPool, *, max_batch: int = MAX_BATCH) -> None:
        self._pool = pool
        self._max = max_batch
        self._pending: list[tuple[Callback, asyncio.Future[str]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._alone: set[asyncio.Task[None]] = set()
        self._batch: list[tuple[Callback, asyncio.Future[str]]] = []

    async def apply(self, callback: Callback) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((callback, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    def _next_batch(self) -> list[tuple[Callback, asyncio.Future[str]]]:
        batch, later, names = [], [], set()
        for item in self._pending:
            callback = item[0]
            keys = {("sid", callback.sid)} | ({("id", callback.message_id)} if callback.message_id else set())
            if len(batch) < self._max and not keys & names:
                batch.append(item)
                names |= keys
            else:
                later.append(item)
        self._pending = later
        return batch

    async def _flush(self) -> None:
        try:
            while self._pending:
                self._batch = batch = self._next_batch()
                try:
                    async with self._pool.connection() as conn:
                        results = await apply_many(conn, [c for c, _ in batch])
                except Exception as exc:  # noqa: BLE001 - each callback then gets its own outcome
                    log.debug("callback batch of %d applied one by one: %s", len(batch), exc)
                    for item in batch:
                        task = asyncio.create_task(self._alone_one(*item))
                        self._alone.add(task)
                        task.add_done_callback(self._alone.discard)
                    self._batch = []
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                self._batch = []
        finally:
            self._flusher = None
            for _, future in self._batch + self._pending:  # unresolved only if the loop itself broke
                if not future.done():
                    future.set_exception(RuntimeError("status callback batch stopped"))
            self._batch, self._pending = [], []

    async def _alone_one(self, callback: Callback, future: asyncio.Future[str]) -> None:
        try:
            async with self._pool.connection() as conn:
                result = await apply_one(conn, callback)
        except Exception as exc:  # noqa: BLE001 - the request answers it (500: Twilio retries)
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)


_BY_POOL: weakref.WeakKeyDictionary[AsyncConnectionPool, CallbackBatches] = weakref.WeakKeyDictionary()


def for_pool(pool: AsyncConnectionPool) -> CallbackBatches:
    """The process's batches for this pool (one per pool, so per event loop). They hold the
    pool weakly: a strong reference from the value would keep the key alive for ever."""
    batches = _BY_POOL.get(pool)
    if batches is None:
        batches = _BY_POOL[pool] = CallbackBatches(weakref.proxy(pool))
    return batches
