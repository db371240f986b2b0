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

import weakref

from psycopg_pool import AsyncConnectionPool

from smsrelay.service.batching import MAX_BATCH, Batcher
from smsrelay.service.delivery.status_callbacks import Callback, apply_many, apply_one


def _names(callback: Callback) -> set[tuple[str, str]]:
    # The sid, and our id when it carries one: two callbacks that may name one row never share a batch.
    return {("sid", callback.sid)} | ({("id", callback.message_id)} if callback.message_id else set())


class CallbackBatches(Batcher[Callback, str]):
    def __init__(self, pool: AsyncConnectionPool, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(pool, _names, apply_many, apply_one, max_batch=max_batch, name="status callback batch")

    async def apply(self, callback: Callback) -> str:
        return await self.submit(callback)


_BY_POOL: weakref.WeakKeyDictionary[AsyncConnectionPool, CallbackBatches] = weakref.WeakKeyDictionary()


def for_pool(pool: AsyncConnectionPool) -> CallbackBatches:
    """The process's batches for this pool (one per pool, so per event loop). They hold the
    pool weakly: a strong reference from the value would keep the key alive for ever."""
    batches = _BY_POOL.get(pool)
    if batches is None:
        batches = _BY_POOL[pool] = CallbackBatches(weakref.proxy(pool))
    return batches
