"""The scheduler: periodic duties run by exactly one leader among all scheduler processes.

Leadership is a session-level advisory lock held on a dedicated connection: if the leader dies,
PostgreSQL drops its connection and lock, and another scheduler takes over on its next try.
"""

from __future__ import annotations

import asyncio
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


def default_duties() -> list[tuple[str, Duty]]:
    from smsrelay.service.operations.alerts import observability_duty

    return [("reconcile", reconcile.reconcile_open_messages), ("observability", observability_duty),
            ("retention", retention.purge_content), ("unknown_outcomes", dispatch.settle_unknown_outcomes)]


async def run_duties(rt: Runtime, duties: list[tuple[str, Duty]]) -> None:
    for name, duty in duties:
        try:
            result = await duty(rt)
            log.debug("duty %s: %s", name, result)
        except Exception:
            log.exception("scheduler duty %s failed", name)


async def run_scheduler(rt: Runtime, *, tick: float = TICK_SECONDS, duties: list[tuple[str, Duty]] | None = None,
                        stop: asyncio.Event | None = None) -> None:
    duties = duties if duties is not None else default_duties()
    stop = stop or asyncio.Event()
    await rt.open()
    try:
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(psycopg_url(rt.database_url), autocommit=True) as lock_conn:
                    leader = (await (await lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))).fetchone())[0]
                    if leader:
                        log.info("scheduler is leader")
                    while leader and not stop.is_set():
                        await run_duties(rt, duties)
                        await lock_conn.execute("SELECT 1")  # notice a lost connection (and lock) promptly
                        await _wait(stop, tick)
            except psycopg.OperationalError as exc:
                log.warning("scheduler lost the database: %s", exc)
            await _wait(stop, tick)
    finally:
        await rt.close()


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
