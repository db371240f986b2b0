"""The scheduler: periodic duties run by exactly one leader among all scheduler processes.

Leadership is a session-level advisory lock held on a dedicated connection: if the leader dies,
PostgreSQL drops its connection and lock, and another scheduler takes over on its next try.

Each duty runs in its own loop with its own deadline: one that fails is logged and tried again
next round, one that hangs (Twilio not answering a reconcile) is cancelled at its deadline, and
neither holds the others back, so alerts are evaluated on time during the very outage they are
about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg

from smsrelay.service.delivery import reconcile
from smsrelay.service.outbound import dispatch
from smsrelay.service.operations import retention
from smsrelay.service.runtime import Runtime
from smsrelay.store.db import psycopg_url

log = logging.getLogger(__name__)

LEADER_LOCK = 7361003
TICK_SECONDS = 30.0

Duty = Callable[[Runtime], Awaitable[object]]

# Seconds a duty may run before it is cancelled. Reconcile and retention work in committed
# steps, so a cancelled run loses nothing and the next one carries on.
DEADLINES = {"reconcile": 300.0, "observability": 90.0, "retention": 300.0, "unknown_outcomes": 300.0}
DEFAULT_DEADLINE = 60.0


def default_duties() -> list[tuple[str, Duty]]:
    from smsrelay.service.operations.alerts import observability_duty
    from smsrelay.service.operations.autopilot import autopilot_duty
    from smsrelay.service.spend.prices import price_duty

    return [("reconcile", reconcile.reconcile_open_messages), ("observability", observability_duty),
            ("retention", retention.retention_duty), ("unknown_outcomes", dispatch.settle_unknown_outcomes),
            ("autopilot", autopilot_duty), ("prices", price_duty)]


async def run_duty(rt: Runtime, name: str, duty: Duty, deadline: float) -> bool:
    """One run of one duty within its deadline; never raises (but for cancellation)."""
    limit = asyncio.timeout(deadline)
    try:
        async with limit:
            result = await duty(rt)
        log.debug("duty %s: %s", name, result)
        return True
    except TimeoutError:
        if not limit.expired():  # the duty's own timeout, not ours
            log.exception("scheduler duty %s failed", name)
        else:
            log.warning("scheduler duty %s ran past its %.0f s deadline and was stopped", name, deadline)
    except Exception:
        log.exception("scheduler duty %s failed", name)
    return False


async def run_duties(rt: Runtime, duties: list[tuple[str, Duty]], deadlines: dict[str, float] | None = None) -> None:
    """One round of every duty, side by side."""
    limits = {**DEADLINES, **(deadlines or {})}
    await asyncio.gather(*(run_duty(rt, name, duty, limits.get(name, DEFAULT_DEADLINE)) for name, duty in duties))


async def _duty_loop(rt: Runtime, name: str, duty: Duty, deadline: float, tick: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await run_duty(rt, name, duty, deadline)
        await _wait(stop, tick)


async def run_scheduler(rt: Runtime, *, tick: float = TICK_SECONDS, duties: list[tuple[str, Duty]] | None = None,
                        stop: asyncio.Event | None = None, deadlines: dict[str, float] | None = None) -> None:
    duties = duties if duties is not None else default_duties()
    limits = {**DEADLINES, **(deadlines or {})}
    stop = stop or asyncio.Event()
    await rt.open()
    try:
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(psycopg_url(rt.database_url), autocommit=True) as lock_conn:
                    leader = (await (await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))).fetchone())[0]
                    if leader:
                        log.info("scheduler is leader")
                        await _lead(rt, lock_conn, duties, limits, tick, stop)
            except psycopg.OperationalError as exc:
                log.warning("scheduler lost the database: %s", exc)
            await _wait(stop, tick)
    finally:
        await rt.close()


async def _lead(rt: Runtime, lock_conn: psycopg.AsyncConnection, duties: list[tuple[str, Duty]],
                limits: dict[str, float], tick: float, stop: asyncio.Event) -> None:
    """Run every duty's loop while the lock connection lives; stop them all when it is lost."""
    ticks = {"autopilot": min(tick, rt.settings.autopilot_tick_seconds)}
    loops = [asyncio.create_task(_duty_loop(rt, name, duty, limits.get(name, DEFAULT_DEADLINE),
                                            ticks.get(name, tick), stop),
                                 name=f"duty-{name}") for name, duty in duties]
    try:
        while not stop.is_set():
            await lock_conn.execute("SELECT 1")  # notice a lost connection (and lock) promptly
            await _wait(stop, tick)
    finally:
        for task in loops:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*loops, return_exceptions=True)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
