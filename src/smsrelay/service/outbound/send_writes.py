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
"SendQueue" row stays too (its finish is either the same commit, for a send the loop claimed
and marked, or a later one in the WAL, so it cannot survive a result that was lost), and the
lease runs out into a re-run that asks Twilio and adopts the copy — or a
status callback, which carries our id, records the sid first. The marker and the status
callbacks keep waiting for their flush: losing a marker would let a re-run send again, and a
callback Twilio was answered for is never sent again.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from smsrelay.service.batching import Batcher
from smsrelay.store import sql

# Twilio's answers arrive spread over its latency, so without waiting they would go one by one.
# A result waits this long for others: the send is over, only its slot is held a little longer.
RESULT_LINGER_SECONDS = 0.015

T = TypeVar("T")
R = TypeVar("R")


def _alone(many: Callable[[AsyncConnection, Sequence[T]], Awaitable[list[R]]]
           ) -> Callable[[AsyncConnection, T], Awaitable[R]]:
    """One item by the same statement as many: a lone send, or one rerun after a failed batch."""
    async def one(conn: AsyncConnection, item: T) -> R:
        return (await many(conn, [item]))[0]
    return one


# ---- the three kinds ----

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


async def _mark_many(conn: AsyncConnection, items: Sequence[Marker]) -> list[bool]:
    marked = {row["id"] for row in await sql.all(
        conn, "mark_in_flight", ids=[m.message_id for m in items], read_tokens=[m.read_token for m in items],
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
    # The send loop's lease owner, when the result should also finish the "SendQueue" row.
    owner: str | None = None


async def _record_many(conn: AsyncConnection, items: Sequence[Result]) -> list[bool]:
    found = {row["id"] for row in await sql.all(
        conn, "record_results", ids=[r.message_id for r in items], statuses=[r.status for r in items],
        sids=[r.sid for r in items], metadata=[Jsonb(r.metadata) for r in items], owners=[r.owner for r in items])}
    return [r.message_id in found for r in items]


class SendWrites:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.facts: Batcher[tuple[str, str], dict[str, Any] | None] = Batcher(
            pool, lambda item: (item[0],), _facts_many, _alone(_facts_many), name="send facts batch")
        self.markers: Batcher[Marker, bool] = Batcher(pool, lambda m: (m.message_id,), _mark_many,
                                                      _alone(_mark_many), name="in-flight marker batch")
        self.results: Batcher[Result, bool] = Batcher(pool, lambda r: (r.message_id,), _record_many,
                                                      _alone(_record_many), linger=RESULT_LINGER_SECONDS,
                                                      name="send result batch")


_BY_POOL: weakref.WeakKeyDictionary[AsyncConnectionPool, SendWrites] = weakref.WeakKeyDictionary()


def for_pool(pool: AsyncConnectionPool) -> SendWrites:
    """The process's batches for this pool (one per pool, so per event loop), holding it weakly."""
    writes = _BY_POOL.get(pool)
    if writes is None:
        writes = _BY_POOL[pool] = SendWrites(weakref.proxy(pool))
    return writes
