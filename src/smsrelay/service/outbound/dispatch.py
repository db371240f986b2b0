"""The worker's side of sending: claim a queued message, pass the guards, call Twilio once.

Crash safety: before calling Twilio the worker commits an in-flight marker ("inFlight" in
"metadata"). A job that finds that marker from an earlier attempt does not resend blindly: it
asks Twilio for a message to the same recipient from the same sender since the marker, and
adopts it if found. So a worker killed at any point neither loses the message (the job is
retried) nor sends it twice.

Only a definite refusal clears the marker. One statement just before the request writes the
marker with this run's fencing token and proves the run still owns the send (what it read is
unchanged: unsent, the marker's token the one it saw), so a run presumed dead cannot send after
another took over. What nobody can establish (Twilio cannot be asked, or accepted a message we
could not record) is held as an unknown outcome: never `failed`, never resent.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay import failpoints
from smsrelay.domain import catalogue
from smsrelay.domain import ids, phone
from smsrelay.service.outbound import guards, scheduling, send_writes, throttle
from smsrelay.service.outbound import channels as outbound_channels
# settle_unknown_outcomes is imported for its callers (the scheduler's duty) by its old address.
from smsrelay.service.outbound.unknown_outcomes import (
    SETTLED, TRANSIENT_RETRIES, UNKNOWN_OUTCOME, adopt_earlier_send, backoff, check_failed, hold_unknown,
    settle_unknown_outcomes, unsettled_seconds)
from smsrelay.service import jobs
from smsrelay.service.spend import caps as spend_caps
from smsrelay.service.runtime import Runtime
from smsrelay.service.delivery.status_updates import advance, error_metadata
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError
from smsrelay.twilio.gateway import Sent

log = logging.getLogger(__name__)

# What a send needs of its org, read with the message (send_facts).
ORG_FACTS = ("smsDisabled", "maxMessagesPerMinute", "validityPeriodSeconds")


def status_callback_url(rt: Runtime, message_id: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}/webhooks/twilio/status?messageId={message_id}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def send_message(rt: Runtime, message_id: str) -> str:
    """Run one send job. Returns what happened, for logs and tests."""
    # The sends a worker runs at once share their reads, markers and results (send_writes.py).
    writes = send_writes.for_pool(rt.pool)
    row = await writes.facts.submit((message_id, guards.KILL_SWITCH_KEY))
    if row is None or row["direction"] != "outbound":
        return "missing"
    if row["status"] == "scheduled":
        # Held by us until its sendAt (service/outbound/scheduling.py); from here an ordinary send.
        async with rt.pool.connection() as conn:
            released = await scheduling.release(conn, row)
        if released != scheduling.RELEASED:
            return "scheduled" if released == scheduling.NOT_YET else "already-done"
        row = await writes.facts.submit((message_id, guards.KILL_SWITCH_KEY))
    if row["status"] != "queued" or row["twilioSid"]:
        return "already-done"  # no status goes back to queued: no lock needed to know
    org = {"id": row["orgId"], **{k: row[k] for k in ORG_FACTS}}
    if guards.plain(rt.settings, row, _now()):
        slot = throttle.Claim(log_send=True)
    else:
        async with rt.pool.connection() as conn, conn.transaction():
            row = {**row, **await sql.one(conn, "lock_message", id=message_id)}
            slot = await _guard(conn, rt, row, org)
        if isinstance(slot, str):
            return slot
    meta = row["metadata"] or {}
    in_flight = meta.get("inFlight")
    if in_flight and (meta.get("hold") or meta.get("throttled")):
        # Past the guards: what held or deferred it no longer does, whatever Twilio answers.
        async with rt.pool.connection() as conn:
            await sql.execute(conn, "merge_metadata", id=message_id, metadata={"hold": None, "throttled": None})
    # "attempts" counts requests to create the message; a re-run that only asks Twilio about
    # an earlier one spends nothing of the send budget.
    attempts = int(meta.get("attempts", 0)) + 1
    if in_flight:
        try:
            found = await adopt_earlier_send(rt, row, in_flight)
            if found == "adopted":
                return "adopted"
            if found == "ambiguous":
                return f"held:{UNKNOWN_OUTCOME}"
        except TwilioError as exc:
            return await check_failed(rt, message_id, exc)
        settle = unsettled_seconds(rt, in_flight)
        if settle > 0:
            # The earlier request may still be in Twilio's hands (sent just before a timeout or
            # a crash): not finding it yet proves nothing. Ask again once it must have settled.
            async with rt.pool.connection() as conn, conn.transaction():
                await throttle.forget(conn, message_id)
                await jobs.enqueue_send(conn, message_id, at=_now() + timedelta(seconds=settle))
            return "awaiting-earlier-attempt"
        if guards.expired(row, _now()):
            async with rt.pool.connection() as conn, conn.transaction():
                return await _expire(conn, await sql.one(conn, "lock_message", id=message_id), org)
        # Twilio answered and has no copy of any earlier attempt, which has settled: send again.
    failpoints.hit("before_send")
    now = _now().isoformat()
    # The token fences this run: a run that takes the send over writes its own, and the one it
    # replaced (presumed dead, perhaps merely frozen) finds its read out of date and cannot send.
    marker = {**(in_flight or {"since": now}), "last": now, "token": ids.new_id("run")}
    marked = await writes.markers.submit(send_writes.Marker(
        message_id, read_token=(in_flight or {}).get("token"), read_attempts=attempts - 1, log_send=slot.log_send,
        metadata={
            # "firstAttemptAt" - "createdAt" is the time it waited for a worker.
            "attempts": attempts, "hold": None, "throttled": None, "failedChecks": None,
            "firstAttemptAt": meta.get("firstAttemptAt") or now, "inFlight": marker}))
    if not marked:
        # Another run owns the send now (ours was presumed dead), or the message was settled.
        await throttle.close(rt, slot.slot_id)
        log.warning("send %s: another run took this send over; not sending", message_id)
        return "superseded"
    outcome, _ = await _request(rt, row, meta, attempts, slot.slot_id)
    return outcome


async def send_claimed(rt: Runtime, row: dict[str, Any], owner: str) -> tuple[str, bool]:
    """Run a send the loop's claim already marked in flight (send_queue_claim_marked: its
    guards passed and its fence committed in that statement). Returns the outcome and whether
    the result also finished the "SendQueue" row of `owner`'s lease."""
    return await _request(rt, row, row["metadata"], int(row["metadata"]["attempts"]), None, owner=owner)


async def _request(rt: Runtime, row: dict[str, Any], meta: dict[str, Any], attempts: int, slot_id: int | None,
                   owner: str | None = None) -> tuple[str, bool]:
    """The request to Twilio of a send marked in flight, and its answer written down."""
    message_id = row["id"]
    try:
        async with throttle.sending(rt, slot_id):
            sent = await rt.gateway.send(
                to=row["to"], from_=row["from"], body=row["content"],
                messaging_service_sid=meta.get("messagingServiceSid"),
                status_callback=status_callback_url(rt, message_id),
                validity_period=min(row["validityPeriodSeconds"], 36000), **outbound_channels.send_params(meta))
    except TwilioError as exc:
        return await _record_failure(rt, message_id, attempts, exc), False
    failpoints.hit("after_send")
    try:
        await send_writes.for_pool(rt.pool).results.submit(
            send_writes.Result(message_id, sent.status, sent.sid, SETTLED, owner=owner))
    except Exception as exc:
        return await _accepted_unrecorded(rt, message_id, sent, exc), False
    log.debug("sent %s as %s to %s", message_id, sent.sid, phone.mask(row["to"]))
    return "sent", owner is not None


async def _guard(conn: AsyncConnection, rt: Runtime, row: dict[str, Any], org: dict[str, Any]) -> str | throttle.Claim:
    """Decide the send under the message's lock (the caller's transaction): what ended this run,
    or the throttle's claim to go on with."""
    if row["status"] != "queued" or row["twilioSid"]:
        return "already-done"
    meta = row["metadata"] or {}
    # An attempt in flight may have reached Twilio: expire only once Twilio says it has none.
    if guards.expired(row, _now()) and not meta.get("inFlight"):
        return await _expire(conn, row, org)
    hold = guards.hold_reason(rt.settings, row)
    refusal = guards.refusal(row)
    if hold is None and refusal is None:
        hold = await spend_caps.hold_reason(conn, row)
    if hold is not None:
        await sql.execute(conn, "merge_metadata", id=row["id"],
                          metadata={"hold": {"reason": hold, "since": (meta.get("hold") or {}).get("since") or _now().isoformat()},
                                    "throttled": None})
        if row["planned"]:
            await throttle.forget(conn, row["id"])
        return f"held:{hold}"
    if refusal is not None:
        code, text = refusal
        await advance(conn, row, "failed", metadata={**error_metadata(code, text), "hold": None})
        if row["planned"]:
            await throttle.forget(conn, row["id"])
        return f"refused:{code}"
    # Last guard: over the org's rate, the message waits for its slot (a later job).
    slot = await throttle.claim(conn, rt.settings, org, row["id"], planned=row["planned"])
    if slot.wait_until is not None:
        await throttle.defer(conn, org, row["id"], slot.wait_until)
        return "throttled"
    return slot


async def _accepted_unrecorded(rt: Runtime, message_id: str, sent: Sent, exc: Exception) -> str:
    """Twilio has the message but we could not write that down (e.g. its sid is already another
    row's). Retrying the job would look for Twilio's copy, skip it as taken, and send again:
    instead the message is held as an unknown outcome and an ERROR names it for an operator.
    If even that write fails (the database is gone), the job's retry finds the marker and asks
    Twilio before anything else."""
    why = f"Twilio accepted it as {sent.sid} but recording that failed: {type(exc).__name__}: {exc}"
    async with rt.pool.connection() as conn, conn.transaction():
        row = await sql.one(conn, "lock_message", id=message_id)
        return await hold_unknown(conn, row, why, level=logging.ERROR,
                                  extra={"acceptedSid": sent.sid, "acceptedStatus": sent.status})


async def _expire(conn: AsyncConnection, row: dict[str, Any], org: dict[str, Any]) -> str:
    await advance(conn, row, "failed", metadata={
        "expired": True, "hold": None, "inFlight": None, "outcome": None,
        "failureReason": f"expired: not sent within its validity period of {org['validityPeriodSeconds']} s"})
    await throttle.forget(conn, row["id"])
    return "expired"


async def _record_failure(rt: Runtime, message_id: str, attempts: int, exc: TwilioError) -> str:
    entry = catalogue.lookup(exc.code) if exc.code else None
    budget = entry.max_retries if entry and entry.retryable else (TRANSIENT_RETRIES if exc.retryable else 0)
    async with rt.pool.connection() as conn, conn.transaction():
        row = await sql.one(conn, "lock_message", id=message_id)
        last_error = {"code": exc.code, "httpStatus": exc.http_status, "message": exc.message, "at": _now().isoformat()}
        if not exc.definite and not (exc.retryable and attempts <= budget):
            # Twilio may have the message: failing it would be a guess, and `failed` is final.
            return await hold_unknown(conn, row, str(exc), last_error=last_error)
        if exc.retryable and attempts <= budget:
            delay = backoff(attempts)
            # Clear the in-flight marker only when Twilio definitely refused: after a timeout, a
            # reset or a 5xx the message may exist at Twilio, and the re-run must ask first.
            in_flight = None if exc.definite else row["metadata"].get("inFlight")
            await sql.execute(conn, "merge_metadata", id=message_id,
                              metadata={"lastError": last_error, "inFlight": in_flight,
                                        "nextAttemptAt": (_now() + timedelta(seconds=delay)).isoformat()})
            await jobs.enqueue_send(conn, message_id, at=_now() + timedelta(seconds=delay))
            log.warning("send %s failed (%s), retry %d in %.1fs", message_id, exc, attempts, delay)
            return "retry"
        code = exc.code if exc.code else (exc.http_status or "network")
        await advance(conn, row, "failed", metadata={
            **error_metadata(code, exc.message), "lastError": last_error, "inFlight": None})
        if exc.code == 21610:
            await sql.execute(conn, "insert_opt_out", org_id=row["orgId"], phone=row["to"], source="twilio:21610")
        log.warning("send %s failed permanently: %s", message_id, exc)
        return "failed"
