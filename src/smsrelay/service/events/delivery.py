"""Delivering events to orgs' endpoints: at least once, signed, logged, isolated.

The loop runs in each worker process beside the send loop, with capacity of its own: its own
small pool of connections, its own slots (WEBHOOK_CONCURRENCY) and, across every worker, at most
WEBHOOK_PER_ORG_CONCURRENCY deliveries in flight per org (claimed under one advisory lock, so
the count is exact). Connections are held only to claim and to record, never across the HTTP
request, so an endpoint that hangs holds one slot for at most its deadline
(WEBHOOK_TIMEOUT_SECONDS, from DNS to the last byte) and never a connection; one org's slow or
dead endpoint cannot take more than its cap of slots, and every other org's events are claimed
beside it (the claim visits each org with pending events on its own).

An attempt that fails (any status outside 2xx, a network error, the deadline) is retried with
exponential backoff and jitter until WEBHOOK_RETRY_HOURS after the event was made, then the event
is 'failed' (kept, replayable). A URL refused by the address rule (SSRF) is not retried. A
message's events go out in sequence: the next waits while an earlier one is pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from smsrelay import org_webhook
from smsrelay.domain import webhook_events, webhook_signing
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql
from smsrelay.store.db import make_pool

log = logging.getLogger(__name__)

# An attempt is bounded by its deadline; the lease outlives it so a live delivery is never
# claimed twice, and a dead worker's deliveries come due again soon after.
LEASE_MARGIN_SECONDS = 30.0
USER_AGENT = "smsrelay-webhooks/1"


def headers_for(row: dict[str, Any], body: bytes, now: float) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            webhook_signing.HEADER: webhook_signing.header(row["secrets"], int(now), body),
            "Smsrelay-Event-Id": webhook_events.event_id(row["id"]), "Smsrelay-Event-Type": row["type"]}


async def attempt(rt: Runtime, row: dict[str, Any], *, pool: Any = None,
                  uniform=random.uniform) -> dict[str, Any]:
    """One attempt at one claimed event, and its record. Returns what was recorded."""
    settings = rt.settings
    body = webhook_events.encode(row)
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        answer = await org_webhook.post(row["url"], body, headers_for(row, body, time.time()),
                                        org_webhook.Limits.from_settings(settings))
        status_code = answer.status
        outcome = "delivered" if 200 <= answer.status < 300 else "http_error"
        if outcome != "delivered":
            # Redirects are not followed (each hop would need the address check again).
            error = f"endpoint answered {answer.status}"
    except org_webhook.WebhookRefused as exc:
        outcome, error = "refused", str(exc)
    except org_webhook.WebhookFailed as exc:
        outcome, error = "error", str(exc)
    latency_ms = (time.monotonic() - started) * 1000.0
    delay = None
    if outcome in ("http_error", "error"):
        delay = webhook_events.retry_delay(row["attempts"], settings.webhook_retry_base_seconds,
                                           settings.webhook_retry_max_seconds, uniform)
    record = dict(id=row["id"], url=row["url"], outcome=outcome, delivered=outcome == "delivered",
                  status_code=status_code, latency_ms=latency_ms, error=error and error[:500], retry_delay=delay,
                  retry_for=settings.webhook_retry_hours * 3600, failing_after=settings.webhook_failing_after)
    async with (pool or rt.pool).connection() as conn:
        done = await sql.one(conn, "record_webhook_attempt", **record)
    if outcome != "delivered":
        log.info("event %s to org %s: attempt %d %s (%s)", row["id"], row["orgId"], row["attempts"], outcome, error)
    if done and done["endpointState"] == "failing" and outcome != "delivered":
        log.warning("org %s webhook endpoint is failing: %s", row["orgId"], error)
    return {**record, "state": done and done["state"]}


async def claim(pool: Any, *, limit: int, per_org: int, lease_seconds: float) -> list[dict[str, Any]]:
    async with pool.connection() as conn, conn.transaction():
        got = await sql.one(conn, "webhook_claim_lock")
        if not got["got"]:
            return []
        return await sql.all(conn, "claim_webhook_events", limit=limit, per_org=per_org, lease_seconds=lease_seconds)


class DeliveryLoop:
    def __init__(self, rt: Runtime, *, concurrency: int | None = None, per_org: int | None = None,
                 poll_seconds: float | None = None) -> None:
        self.rt = rt
        self.concurrency = concurrency or rt.settings.webhook_concurrency
        self.per_org = per_org or rt.settings.webhook_per_org_concurrency
        self.poll_seconds = poll_seconds if poll_seconds is not None else rt.settings.webhook_poll_seconds
        self.lease_seconds = rt.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        self.running: set[asyncio.Task] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: deliveries in flight then finish (each bounded by its deadline)."""
        pool = make_pool(self.rt.database_url, max_size=2, name="webhook-deliveries")
        try:
            await pool.open(wait=False)
            await self._loop(pool, stop)
        finally:
            if self.running:
                await asyncio.gather(*self.running, return_exceptions=True)
            await pool.close()

    async def _loop(self, pool: Any, stop: asyncio.Event) -> None:
        backoff = self.poll_seconds
        while not stop.is_set():
            free = self.concurrency - len(self.running)
            claimed: list[dict[str, Any]] = []
            if free > 0:
                try:
                    claimed = await claim(pool, limit=free, per_org=self.per_org, lease_seconds=self.lease_seconds)
                    backoff = self.poll_seconds
                except Exception as exc:  # the database went away: try again, later each time
                    log.warning("webhook deliveries cannot claim (%s: %s)", type(exc).__name__, exc)
                    backoff = min(max(backoff * 2, 0.5), 15.0)
            for row in claimed:
                task = asyncio.create_task(self._deliver(pool, row))
                self.running.add(task)
                task.add_done_callback(self.running.discard)
            if claimed and len(claimed) == free:
                continue
            await self._wait(stop, backoff)

    async def _wait(self, stop: asyncio.Event, seconds: float) -> None:
        waiters = {asyncio.create_task(stop.wait())}
        if len(self.running) >= self.concurrency:
            waiters |= set(self.running)  # a slot frees up
        sleeper = asyncio.create_task(asyncio.sleep(seconds))
        try:
            await asyncio.wait(waiters | {sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, *[w for w in waiters if w not in self.running]):
                task.cancel()

    async def _deliver(self, pool: Any, row: dict[str, Any]) -> None:
        try:
            await attempt(self.rt, row, pool=pool)
        except Exception:
            # Unrecorded, the event stays leased and comes due again when the lease runs out.
            log.exception("delivering event %s", row["id"])


async def run_deliveries(rt: Runtime, stop: asyncio.Event) -> None:
    """The worker's entry point: the loop, started again if it ever stops on its own."""
    while not stop.is_set():
        try:
            await DeliveryLoop(rt).run(stop)
        except Exception:
            log.exception("webhook delivery loop stopped; starting again")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
