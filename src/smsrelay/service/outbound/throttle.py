"""Per-org send rate ("maxMessagesPerMinute"), enforced across every worker process and machine.

The state is a sliding-window log in PostgreSQL ("SendSlot"), not process memory, so the
runbook's UPDATE holds for the whole fleet on the next send. No message is dropped: one over
the limit reserves the next free time (behind any already waiting, so they go in order) and its
job is deferred to it. A reservation made under a limit that has since changed is dropped and
its job woken (see `maintain`), so lifting or raising a limit takes effect within seconds.

Why a send is a span, not an instant: Twilio stamps a message when its request arrives, which
is some time after our stamp (a cold worker took two seconds in tests). So a send occupies the
window from just before its request ("at") to its answer ("doneAt"), and a new one may start
only if fewer than N spans touch the last minute. Then no minute of Twilio's own timestamps
holds more than N: of N+1 sends Twilio stamped within one minute, the last to start would have
seen the other N (each had started, and none had finished before that minute began). A span
still open counts until the request timeout at most, so a worker killed mid-request cannot
block its org. The margin added to the window covers clock skew between us and Twilio.

Correctness rests only on that check at send time; reservations just spread the wake-ups so a
backlog does not retry all at once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from smsrelay.service import jobs
from smsrelay.service.runtime import Runtime
from smsrelay.settings import Settings
from smsrelay.store import sql

log = logging.getLogger(__name__)

MAINTENANCE_LOCK = 7361004
# Never defer for less than this: a deferral is a new job and a round trip through the queue.
MIN_DEFER = timedelta(milliseconds=50)


def window_seconds(settings: Settings) -> float:
    return settings.rate_window_seconds + settings.rate_margin_seconds


def in_flight_seconds(settings: Settings) -> float:
    """How long an unanswered request can still be reaching Twilio (the SDK's timeout, padded)."""
    return settings.twilio_timeout_seconds + 5.0


@dataclass(frozen=True)
class Claim:
    wait_until: datetime | None = None  # over the limit: try again then
    slot_id: int | None = None          # a throttled send: stamp its answer with `sending`
    # An unthrottled send, logged by the statement that marks it in flight (dispatch's
    # mark_in_flight): no lock and no round trip of its own.
    log_send: bool = False


async def claim(conn: AsyncConnection, settings: Settings, org: dict[str, Any], message_id: str, *,
                planned: bool = True) -> Claim:
    """Take a send slot for this message now, or say when it may try again. `planned` False
    says the caller read, under the message's lock, that the message holds no reservation.

    Runs inside the caller's transaction, which holds the message's row lock; the per-org lock
    is released when that transaction commits, just before the request to Twilio.
    """
    limit = org["maxMessagesPerMinute"]
    if limit is None:
        # Unlimited, but still logged: a limit set later must see the minute before it.
        if planned:
            await sql.execute(conn, "rate_drop_plan", message_id=message_id)
        return Claim(log_send=True)
    window = window_seconds(settings)
    await sql.one(conn, "rate_lock", org_id=org["id"])
    state = await sql.one(conn, "rate_state", org_id=org["id"], message_id=message_id, window=window,
                          in_flight=in_flight_seconds(settings), per_minute=limit)
    assert state is not None
    now: datetime = state["now"]
    has_plan = state["plannedAt"] is not None and state["plannedPerMinute"] == limit
    if has_plan and state["plannedAt"] > now:
        return Claim(wait_until=state["plannedAt"])  # woken before its time: keep its place
    horizon: datetime | None = state["horizon"]
    if state["plannedAt"] is not None:
        await sql.execute(conn, "rate_drop_plan", message_id=message_id)
    # A message whose reservation came due goes if the window allows; a newcomer goes only if
    # that would not take a reserved message's place.
    if state["recent"] < limit and (has_plan or horizon is None or horizon <= now):
        slot = await sql.one(conn, "rate_record_send", org_id=org["id"], message_id=message_id, at=now,
                             per_minute=limit, in_flight=True)
        return Claim(slot_id=slot["id"])
    if has_plan:
        # Its turn came but the window is still full (a send took long): it keeps its place in
        # line by trying again as soon as the oldest send leaves the window.
        return Claim(wait_until=max(state["freeAt"] or now, now + MIN_DEFER))
    return Claim(wait_until=max(horizon or now, now + MIN_DEFER))


@asynccontextmanager
async def sending(rt: Runtime, slot_id: int | None) -> AsyncIterator[None]:
    """Around the request to Twilio: closes the send's span when the answer (or error) is in."""
    try:
        yield
    finally:
        await close(rt, slot_id)


async def close(rt: Runtime, slot_id: int | None) -> None:
    """End a send's span: its answer is in, or it was never sent."""
    if slot_id is None:
        return
    try:
        async with rt.pool.connection() as conn:
            await sql.execute(conn, "rate_done", id=slot_id)
    except Exception:  # the send's outcome matters more; the span just stays open
        log.warning("could not close send slot %s; it counts until the request timeout", slot_id, exc_info=True)


async def defer(conn: AsyncConnection, org: dict[str, Any], message_id: str, until: datetime) -> None:
    """Reserve `until` for the message and schedule its send then (same transaction as claim)."""
    await jobs.enqueue_send(conn, message_id, at=until)
    await sql.execute(conn, "rate_drop_plan", message_id=message_id)
    # No "jobId" any more: a re-plan wakes the message's "SendQueue" row by its id.
    await sql.execute(conn, "rate_plan", org_id=org["id"], message_id=message_id, at=until,
                      per_minute=org["maxMessagesPerMinute"])
    await sql.execute(conn, "merge_metadata", id=message_id, metadata={
        "throttled": {"until": until.isoformat(), "perMinute": org["maxMessagesPerMinute"]}})


async def forget(conn: AsyncConnection, message_id: str) -> None:
    """The message will not be sent now (held, refused, expired): give its reservation back."""
    await sql.execute(conn, "rate_drop_plan", message_id=message_id)


async def maintain(rt: Runtime) -> int:
    """Re-plan reservations whose limit changed and purge old slots; returns how many jobs were
    woken. Any worker may call it; one at a time does the work."""
    async with rt.pool.connection() as conn, conn.transaction():
        if not (await sql.one(conn, "try_lock", key=MAINTENANCE_LOCK))["locked"]:
            return 0
        woken = await sql.all(conn, "rate_replan_stale")
        # Keep a few windows' worth: cheap, and a widened window in a rehearsal still sees them.
        await sql.execute(conn, "rate_purge", keep_seconds=3 * window_seconds(rt.settings) + 60)
    if woken:
        log.info("woke %d throttled sends after a rate change", len(woken))
    return len(woken)


async def throttled_orgs(conn: AsyncConnection) -> list[dict[str, Any]]:
    return await sql.all(conn, "throttled_orgs")
