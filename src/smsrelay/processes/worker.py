"""The worker process: the send loop ("SendQueue"), procrastinate for forwards to orgs' webhooks,
and a side loop that releases holds and keeps the per-org rate state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal

import procrastinate
from procrastinate import RetryStrategy

from smsrelay.service.outbound import dispatch, release, send_queue, throttle
from smsrelay.service.outbound.send_queue import SendLoop
from smsrelay.service.delivery import inbound
from smsrelay.service.events import delivery as event_delivery
from smsrelay.service import jobs
from smsrelay.service.runtime import Runtime
from smsrelay.store.db import RECONNECT_SECONDS, psycopg_url

log = logging.getLogger(__name__)

RELEASE_INTERVAL_SECONDS = 2.0
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
# New forwards arrive by LISTEN/NOTIFY; a retry deferred to a later time is only seen by polling.
SCHEDULED_POLL_SECONDS = 0.5


def worker_pool_size(concurrency: int, forwards: int) -> int:
    """Connections a worker process's pool may open. A send holds one only for a statement, never
    during its Twilio call, and the sends running at once share their reads, markers and results
    (send_writes.py: one statement of each kind at a time), so the pool does not grow with the
    send slots: the three batched kinds, the loop's claim and finish, its heartbeat, the
    maintenance loop, and a few for the rare guarded, failed or adopting send. A forward holds
    one only to read the message and to record the outcome, never during the HTTP call."""
    return min(concurrency, 6) + 4 + min(forwards, 4)


def build_app(rt: Runtime) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=psycopg_url(rt.database_url), reconnect_timeout=RECONNECT_SECONDS))

    @app.task(name=jobs.FORWARD_TASK, queue=jobs.WEBHOOK_QUEUE,
              retry=RetryStrategy(max_attempts=12, exponential_wait=2))
    async def forward_inbound(message_id: str) -> str:
        return await inbound.forward(rt, message_id)

    return app


async def _recover_stalled_forwards(app: procrastinate.App, stalled_after: float) -> int:
    """Forwards of a worker that died (SIGKILL, lost machine) stay 'doing' forever unless someone
    hands them back. (Sends need no sweep: their lease runs out.)"""
    stalled = list(await app.job_manager.get_stalled_jobs(queue=jobs.WEBHOOK_QUEUE,
                                                          seconds_since_heartbeat=stalled_after))
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
            await send_queue.vacuum_if_bloated(rt)
            recovered = await _recover_stalled_forwards(app, stalled_after)
            if recovered:
                log.warning("re-queued %d forwards of dead workers", recovered)
        except Exception:  # keep going after a database blip
            log.exception("maintenance loop")
        await asyncio.sleep(RELEASE_INTERVAL_SECONDS)


async def run_worker(rt: Runtime, *, concurrency: int = 20, heartbeat: float = 10.0,
                     install_signal_handlers: bool = True, forward_concurrency: int | None = None) -> None:
    """Run until SIGINT/SIGTERM (or cancellation): then no new sends are claimed, running ones
    finish and claimed ones not yet started go back to the queue. Both loops outlive a
    PostgreSQL restart: the send loop retries with a backoff, and procrastinate's worker (which
    stops when it loses the database) is started again.

    Sends and forwards to orgs' webhooks have slots of their own (`concurrency`, and
    `forward_concurrency`, default WEBHOOK_CONCURRENCY): anyone can make us forward by texting
    an org's number, and a slow webhook must never keep a send waiting."""
    forward_concurrency = forward_concurrency or rt.settings.webhook_concurrency
    try:
        await rt.open()
    except BaseException:
        # Stopped while connecting: the pool's own tasks would outlive the loop.
        await asyncio.shield(rt.close())
        raise
    stop = asyncio.Event()
    if install_signal_handlers:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    sends = asyncio.create_task(SendLoop(
        rt, dispatch.send_message, concurrency=concurrency, heartbeat=heartbeat, send_claimed=dispatch.send_claimed,
        claim_interval=rt.settings.send_claim_interval_seconds,
        max_per_second=rt.settings.send_max_per_second).run(stop))
    forwards = asyncio.create_task(_run_forwards(rt, stop, forward_concurrency=forward_concurrency,
                                                 heartbeat=heartbeat))
    # Events to orgs' endpoints (status webhooks, inbound forwards): slots and a pool of their own.
    deliveries = asyncio.create_task(event_delivery.run_deliveries(rt, stop))
    try:
        await asyncio.gather(sends, forwards, deliveries)
    finally:
        stop.set()
        await asyncio.gather(sends, forwards, deliveries, return_exceptions=True)
        await rt.close()


async def _run_forwards(rt: Runtime, stop: asyncio.Event, *, forward_concurrency: int, heartbeat: float) -> None:
    app = build_app(rt)
    delay = RESTART_MIN_SECONDS
    while not stop.is_set():
        try:
            await _run_once(rt, app, stop, forward_concurrency=forward_concurrency, heartbeat=heartbeat)
            delay = RESTART_MIN_SECONDS
        except Exception as exc:  # the database went away under procrastinate
            log.warning("forward worker lost the database (%s: %s); starting again in about %.0fs",
                        type(exc).__name__, exc, delay)
        if stop.is_set():
            break
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, RESTART_MAX_SECONDS)


async def _run_once(rt: Runtime, app: procrastinate.App, stop: asyncio.Event, *,
                    forward_concurrency: int, heartbeat: float) -> None:
    async with app.open_async():
        releaser = asyncio.create_task(_maintenance_loop(rt, app, stalled_after=3 * heartbeat))
        worker = asyncio.create_task(app.run_worker_async(
            queues=[jobs.WEBHOOK_QUEUE], concurrency=forward_concurrency, name="forwards",
            install_signal_handlers=False, update_heartbeat_interval=heartbeat,
            fetch_job_polling_interval=SCHEDULED_POLL_SECONDS, stalled_worker_timeout=3 * heartbeat,
            # A finished job is history nobody reads (the message row is the record).
            delete_jobs="successful"))
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({worker, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                # Cancelling is procrastinate's graceful stop: running jobs finish first.
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            else:
                worker.result()  # raises what stopped it
                raise RuntimeError("the forward worker stopped on its own")
        finally:
            for task in (releaser, stopper, worker):
                task.cancel()
            await asyncio.gather(releaser, stopper, worker, return_exceptions=True)
