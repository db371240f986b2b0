"""The worker process: procrastinate runs send and forward jobs; a side loop releases holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal

import procrastinate
from procrastinate import RetryStrategy

from smsrelay.service.outbound import dispatch, release, throttle
from smsrelay.service.delivery import inbound
from smsrelay.service import jobs
from smsrelay.service.runtime import Runtime
from smsrelay.store.db import RECONNECT_SECONDS, psycopg_url

log = logging.getLogger(__name__)

RELEASE_INTERVAL_SECONDS = 2.0
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
# New jobs arrive by LISTEN/NOTIFY, but a job deferred to a later time (a throttled send, a
# retry) is only seen by polling; procrastinate's default of 5 s would make a rate limit lag.
SCHEDULED_POLL_SECONDS = 0.5


def build_app(rt: Runtime) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=psycopg_url(rt.database_url), reconnect_timeout=RECONNECT_SECONDS))

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
                     install_signal_handlers: bool = True, forward_concurrency: int | None = None) -> None:
    """Run until SIGINT/SIGTERM (or cancellation). procrastinate's worker stops when it loses
    the database (its heartbeat fails); this one backs off and starts again, so a PostgreSQL
    restart costs a few seconds, not the worker. Jobs the lost instance held are handed back
    by the stalled-job recovery once its heartbeat is old.

    Sends and forwards to orgs' webhooks have slots of their own (`concurrency`, and
    `forward_concurrency`, default WEBHOOK_CONCURRENCY): anyone can make us forward by texting
    an org's number, and a slow webhook must never keep a send waiting."""
    forward_concurrency = forward_concurrency or rt.settings.webhook_concurrency
    await rt.open()
    app = build_app(rt)
    stop = asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    delay = RESTART_MIN_SECONDS
    try:
        while not stop.is_set():
            try:
                await _run_once(rt, app, stop, concurrency=concurrency, forward_concurrency=forward_concurrency,
                                heartbeat=heartbeat)
                delay = RESTART_MIN_SECONDS
            except Exception as exc:  # the database went away under procrastinate
                log.warning("worker lost the database (%s: %s); starting again in about %.0fs",
                            type(exc).__name__, exc, delay)
            if stop.is_set():
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, RESTART_MAX_SECONDS)
    finally:
        await rt.close()


async def _run_once(rt: Runtime, app: procrastinate.App, stop: asyncio.Event, *, concurrency: int,
                    forward_concurrency: int, heartbeat: float) -> None:
    async with app.open_async():
        releaser = asyncio.create_task(_maintenance_loop(rt, app, stalled_after=3 * heartbeat))
        common = dict(install_signal_handlers=False, update_heartbeat_interval=heartbeat,
                      fetch_job_polling_interval=SCHEDULED_POLL_SECONDS, stalled_worker_timeout=3 * heartbeat,
                      # A finished job is history nobody reads (the message row is the record);
                      # keeping them grows the table every fetch reads.
                      delete_jobs="successful")
        # Two procrastinate workers, one per queue: each has its own slots, so forwards stuck on
        # a slow webhook can fill only theirs.
        workers = {
            asyncio.create_task(app.run_worker_async(queues=[jobs.SEND_QUEUE], concurrency=concurrency,
                                                     name="sends", **common)),
            asyncio.create_task(app.run_worker_async(queues=[jobs.WEBHOOK_QUEUE], concurrency=forward_concurrency,
                                                     name="forwards", **common)),
        }
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({*workers, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                # Cancelling is procrastinate's graceful stop: running jobs finish first.
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            else:
                for worker in done & workers:
                    worker.result()  # raises what stopped it
                raise RuntimeError("the job worker stopped on its own")
        finally:
            for task in (releaser, stopper, *workers):
                task.cancel()
            await asyncio.gather(releaser, stopper, *workers, return_exceptions=True)
