"""The worker process: procrastinate runs send and forward jobs; a side loop releases holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import procrastinate
from procrastinate import RetryStrategy

from smsrelay.service import dispatch, inbound, jobs, release, throttle
from smsrelay.service.runtime import Runtime
from smsrelay.store.db import psycopg_url

log = logging.getLogger(__name__)

RELEASE_INTERVAL_SECONDS = 2.0
# New jobs arrive by LISTEN/NOTIFY, but a job deferred to a later time (a throttled send, a
# retry) is only seen by polling; procrastinate's default of 5 s would make a rate limit lag.
SCHEDULED_POLL_SECONDS = 0.5


def build_app(rt: Runtime) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=psycopg_url(rt.database_url)))

    @app.task(name=jobs.SEND_TASK, queue=jobs.SEND_QUEUE,
              retry=RetryStrategy(max_attempts=20, exponential_wait=2, retry_exceptions={Exception}))
    async def send_message(message_id: str) -> str:
        # Retries here cover our own failures (database blips); Twilio's errors are handled,
        # with their own backoff, inside dispatch.
        return await dispatch.send_message(rt, message_id)

    @app.task(name=jobs.FORWARD_TASK, queue=jobs.WEBHOOK_QUEUE,
              retry=RetryStrategy(max_attempts=12, exponential_wait=2))
    async def forward_inbound(message_id: str) -> str:
        return await inbound.forward(rt, message_id)

    return app


async def _recover_stalled_jobs(app: procrastinate.App, stalled_after: float) -> int:
    """Jobs of a worker that died (SIGKILL, lost machine) stay 'doing' forever unless someone
    hands them back; dispatch's in-flight marker makes the re-run safe."""
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after))
    for job in stalled:
        await app.job_manager.retry_job(job)
    return len(stalled)


async def _maintenance_loop(rt: Runtime, app: procrastinate.App, stalled_after: float) -> None:
    while True:
        try:
            count = await release.release_held(rt)
            if count:
                log.info("released %d held messages", count)
            await throttle.maintain(rt)
            recovered = await _recover_stalled_jobs(app, stalled_after)
            if recovered:
                log.warning("re-queued %d jobs of dead workers", recovered)
        except Exception:  # keep going after a database blip
            log.exception("maintenance loop")
        await asyncio.sleep(RELEASE_INTERVAL_SECONDS)


async def run_worker(rt: Runtime, *, concurrency: int = 20, heartbeat: float = 10.0,
                     install_signal_handlers: bool = True) -> None:
    await rt.open()
    app = build_app(rt)
    releaser: asyncio.Task | None = None
    try:
        async with app.open_async():
            releaser = asyncio.create_task(_maintenance_loop(rt, app, stalled_after=3 * heartbeat))
            await app.run_worker_async(queues=[jobs.SEND_QUEUE, jobs.WEBHOOK_QUEUE], concurrency=concurrency,
                                       install_signal_handlers=install_signal_handlers,
                                       update_heartbeat_interval=heartbeat,
                                       fetch_job_polling_interval=SCHEDULED_POLL_SECONDS,
                                       stalled_worker_timeout=3 * heartbeat,
                                       # A finished job is history nobody reads (the message row
                                       # is the record); keeping them grows every fetch's table.
                                       delete_jobs="successful")
    finally:
        if releaser is not None:
            releaser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await releaser
        await rt.close()
