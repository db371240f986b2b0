"""The worker's side of sending: claim a queued message, pass the guards, call Twilio once.

Crash safety: before calling Twilio the worker commits an in-flight marker ("inFlight" in
"metadata"). A job that finds that marker from an earlier attempt does not resend blindly: it
asks Twilio for a message to the same recipient from the same sender since the marker, and
adopts it if found. So a worker killed at any point neither loses the message (the job is
retried) nor sends it twice.

Only a definite refusal clears the marker. Each run fences its send with a token in the marker,
re-checked in one statement just before the request, so a run presumed dead cannot send after
another took over. What nobody can establish (Twilio cannot be asked, or accepted a message we
could not record) is held as an unknown outcome: never `failed`, never resent.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay import failpoints
from smsrelay.domain import catalogue
from smsrelay.domain import ids, phone, smart_encoding
from smsrelay.service.outbound import guards, throttle
from smsrelay.service import jobs
from smsrelay.service.runtime import Runtime
from smsrelay.service.delivery.status_updates import advance, advance_by_id, error_metadata
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError
from smsrelay.twilio.gateway import Sent

log = logging.getLogger(__name__)

# Network errors, 5xx and 429 say nothing about the message itself; try for a while.
TRANSIENT_RETRIES = 8
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 300.0


def backoff(attempt: int, rng: random.Random = random.Random()) -> float:
    """Exponential backoff with full jitter, so a Twilio outage does not synchronise a storm."""
    ceiling = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * (2 ** max(0, attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)


UNKNOWN_OUTCOME = "unknown_outcome"
# What a settled send clears: the marker, the unknown outcome and any hold a run of this job
# that overlapped ours (a false stall) may have set meanwhile.
SETTLED = {"inFlight": None, "lastError": None, "hold": None, "outcome": None, "failedChecks": None}
ADOPTED = {k: v for k, v in SETTLED.items() if k != "lastError"}  # why it needed adopting stays


def status_callback_url(rt: Runtime, message_id: str) -> str:
    return f"{rt.settings.public_base_url.rstrip('/')}/webhooks/twilio/status?messageId={message_id}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def send_message(rt: Runtime, message_id: str) -> str:
    """Run one send job. Returns what happened, for logs and tests."""
    async with rt.pool.connection() as conn:
        async with conn.transaction():
            row = await sql.one(conn, "lock_message", id=message_id)
            if row is None or row["direction"] != "outbound":
                return "missing"
            if row["status"] != "queued" or row["twilioSid"]:
                return "already-done"
            org = await sql.one(conn, "get_org", org_id=row["orgId"])
            meta = row["metadata"] or {}
            expired = (_now() - row["createdAt"]).total_seconds() > org["validityPeriodSeconds"]
            # An attempt in flight may have reached Twilio: expire only once Twilio says it has none.
            if expired and not meta.get("inFlight"):
                return await _expire(conn, row, org)
            hold = await guards.hold_reason(conn, rt.settings, org, row)
            if hold is not None:
                await sql.execute(conn, "merge_metadata", id=message_id,
                                  metadata={"hold": {"reason": hold, "since": (meta.get("hold") or {}).get("since") or _now().isoformat()},
                                            "throttled": None})
                await throttle.forget(conn, message_id)
                return f"held:{hold}"
            refusal = await guards.refusal(conn, org, row)
            if refusal is not None:
                code, text = refusal
                await advance(conn, row, "failed", metadata={**error_metadata(code, text), "hold": None})
                await throttle.forget(conn, message_id)
                return f"refused:{code}"
            # Last guard: over the org's rate, the message waits for its slot (a later job).
            slot = await throttle.claim(conn, rt.settings, org, message_id)
            if slot.wait_until is not None:
                await throttle.defer(conn, org, message_id, slot.wait_until)
                return "throttled"
            in_flight = meta.get("inFlight")
            # "attempts" counts requests to create the message; a re-run that only asks Twilio
            # about an earlier one spends nothing of the send budget.
            attempts = int(meta.get("attempts", 0)) + (0 if in_flight else 1)
            now = _now().isoformat()
            # "firstAttemptAt" - "createdAt" is the time the message waited for a worker.
            # The token fences this run: a run that takes the send over writes its own, and the
            # one it replaced (presumed dead, perhaps merely frozen) can no longer send.
            token = ids.new_id("run")
            marker = {**(in_flight or {"since": now, "last": now}), "token": token}
            await sql.execute(conn, "merge_metadata", id=message_id, metadata={
                "attempts": attempts, "hold": None, "throttled": None,
                "firstAttemptAt": meta.get("firstAttemptAt") or now, "inFlight": marker})
    if in_flight:
        try:
            found = await _adopt_earlier_send(rt, row, in_flight)
            if found == "adopted":
                return "adopted"
            if found == "ambiguous":
                return f"held:{UNKNOWN_OUTCOME}"
        except TwilioError as exc:
            return await _check_failed(rt, message_id, exc)
        settle = _unsettled_seconds(rt, in_flight)
        if settle > 0:
            # The earlier request may still be in Twilio's hands (sent just before a timeout or
            # a crash): not finding it yet proves nothing. Ask again once it must have settled.
            async with rt.pool.connection() as conn, conn.transaction():
                await throttle.forget(conn, message_id)
                await jobs.enqueue_send(conn, message_id, at=_now() + timedelta(seconds=settle))
            return "awaiting-earlier-attempt"
        if expired:
            async with rt.pool.connection() as conn, conn.transaction():
                return await _expire(conn, await sql.one(conn, "lock_message", id=message_id), org)
        # Twilio answered and has no copy of any earlier attempt, which has settled: send again.
        attempts += 1
    failpoints.hit("before_send")
    async with rt.pool.connection() as conn:
        fenced = await sql.one(conn, "fence_send", id=message_id, token=token, metadata={
            "attempts": attempts, "failedChecks": None, "inFlight": {**marker, "last": _now().isoformat()}})
    if fenced is None:
        # Another run owns the send now (ours was presumed dead), or the message was settled.
        log.warning("send %s: another run took this send over; not sending", message_id)
        return "superseded"
    try:
        async with throttle.sending(rt, slot.slot_id):
            sent = await rt.gateway.send(
                to=row["to"], from_=row["from"], body=row["content"],
                messaging_service_sid=meta.get("messagingServiceSid"),
                status_callback=status_callback_url(rt, message_id),
                validity_period=min(org["validityPeriodSeconds"], 36000))
    except TwilioError as exc:
        return await _record_failure(rt, message_id, attempts, exc)
    failpoints.hit("after_send")
    try:
        async with rt.pool.connection() as conn:
            await advance_by_id(conn, message_id, sent.status, twilio_sid=sent.sid, metadata=SETTLED)
    except Exception as exc:
        return await _accepted_unrecorded(rt, message_id, sent, exc)
    log.info("sent %s as %s to %s", message_id, sent.sid, phone.mask(row["to"]))
    return "sent"


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


# Clocks: ours stamps the marker, Twilio's DateCreated (whole seconds) the copy.
CLOCK_ALLOWANCE_SECONDS = 2


async def _adopt_earlier_send(rt: Runtime, row: dict[str, Any], in_flight: dict[str, Any]) -> str:
    """An earlier attempt died after calling Twilio: find what Twilio accepted, if anything.
    "adopted", "none" (Twilio has no copy) or "ambiguous" (held: never a guess, never a resend).
    A TwilioError here propagates: not knowing whether Twilio has it, we must not resend.

    A status callback naming our id records the sid before any of this (the job then finds the
    message settled). Otherwise a copy must match the recipient, the sender or Messaging
    Service, the window in which our requests could have been processed (the marker's first
    attempt to its last plus the request timeout) and the body after smart encoding; it must be
    unclaimed by any row, and no other unsettled row may be able to own it."""
    since = datetime.fromisoformat(in_flight["since"]) - timedelta(seconds=CLOCK_ALLOWANCE_SECONDS)
    last = datetime.fromisoformat(in_flight.get("last") or in_flight["since"])
    until = last + timedelta(seconds=rt.settings.twilio_timeout_seconds + CLOCK_ALLOWANCE_SECONDS)
    service = (row["metadata"] or {}).get("messagingServiceSid")
    found_all = await rt.gateway.find_messages(to=row["to"], from_=row["from"], created_after=since,
                                               created_before=until, messaging_service_sid=service)
    async with rt.pool.connection() as conn, conn.transaction():
        candidates = [m for m in found_all if smart_encoding.same_text(row["content"], m["body"])
                      and not await sql.one(conn, "sid_taken", sid=m["sid"])]
        if not candidates:
            return "none"
        rivals = await sql.one(conn, "rival_unsettled_sends", id=row["id"], org_id=row["orgId"],
                               to=row["to"], content=row["content"])
        if len(candidates) > 1 or rivals:
            why = (f"{len(candidates)} unclaimed copies at Twilio match it"
                   + (" and another unsettled message has the same text to the same person" if rivals else ""))
            locked = await sql.one(conn, "lock_message", id=row["id"])
            await hold_unknown(conn, locked, why, level=logging.ERROR,
                               extra={"candidateSids": [m["sid"] for m in candidates]})
            return "ambiguous"
        locked = await sql.one(conn, "lock_message", id=row["id"])
        await advance(conn, locked, candidates[0]["status"], twilio_sid=candidates[0]["sid"],
                      metadata={**ADOPTED, "reconciled": True, "candidateSids": None})
        return "adopted"


def _unsettled_seconds(rt: Runtime, in_flight: dict[str, Any]) -> float:
    """How long until the last attempt is certainly settled at Twilio: a request can only be
    processed while our side still waits for it, so twice our timeout plus a margin bounds it."""
    last = datetime.fromisoformat(in_flight.get("last") or in_flight["since"])
    settled_at = last + timedelta(seconds=2 * rt.settings.twilio_timeout_seconds + 5)
    return max(0.0, (settled_at - _now()).total_seconds())


async def _check_failed(rt: Runtime, message_id: str, exc: TwilioError) -> str:
    """Twilio could not tell us whether an earlier attempt went through: worth asking again
    later, never a reason to fail the message or to resend it. Past the budget the message is
    held as an unknown outcome, for a callback, reconciliation or an operator to settle."""
    text = f"could not check an earlier attempt ({exc.code or exc.http_status or 'network'}): {exc.message}"
    async with rt.pool.connection() as conn, conn.transaction():
        row = await sql.one(conn, "lock_message", id=message_id)
        failed_checks = int((row["metadata"] or {}).get("failedChecks") or 0) + 1
        last_error = {"code": exc.code, "httpStatus": exc.http_status, "message": text, "at": _now().isoformat()}
        if failed_checks > TRANSIENT_RETRIES:
            return await hold_unknown(conn, row, text, last_error=last_error)
        delay = backoff(failed_checks)
        await sql.execute(conn, "merge_metadata", id=message_id, metadata={
            "lastError": last_error, "failedChecks": failed_checks,
            "nextAttemptAt": (_now() + timedelta(seconds=delay)).isoformat()})
        await throttle.forget(conn, message_id)
        await jobs.enqueue_send(conn, message_id, at=_now() + timedelta(seconds=delay))
    log.warning("send %s: %s; asking again in %.1fs", message_id, text, delay)
    return "retry"


async def hold_unknown(conn: AsyncConnection, row: dict[str, Any], why: str, *, last_error: dict[str, Any] | None = None,
                       level: int = logging.WARNING, extra: dict[str, Any] | None = None) -> str:
    """Hold a message whose fate at Twilio nobody knows: no job, no resend, never `failed`.
    A status callback (it carries our id), reconciliation or an operator settles it."""
    if row["status"] != "queued" or row["twilioSid"]:
        return "already-done"  # a callback settled it meanwhile: nothing is unknown any more
    now = _now().isoformat()
    await sql.execute(conn, "merge_metadata", id=row["id"], metadata={
        **(extra or {}), "outcome": "unknown", "hold": {"reason": UNKNOWN_OUTCOME, "since": now},
        **({"lastError": last_error} if last_error else {}), "nextAttemptAt": None})
    await throttle.forget(conn, row["id"])
    log.log(level, "send %s to %s: outcome unknown (%s); held, not resent, until Twilio's answer, a callback "
            "or reconciliation settles it", row["id"], phone.mask(row["to"]), why)
    return f"held:{UNKNOWN_OUTCOME}"


async def settle_unknown_outcomes(rt: Runtime, *, limit: int = 100) -> dict[str, int]:
    """Reconciliation of held unknown outcomes: ask Twilio again. Its copy is adopted; an answer
    without one releases the message to its job, which checks once more and only then sends.
    One accepted under a sid we could not record gets that sid once it is free; a sid that
    really is another row's waits for an operator (an ERROR named it when it was held)."""
    done = {"adopted": 0, "released": 0, "unknown": 0, "operator": 0}
    async with rt.pool.connection() as conn:
        rows = await sql.all(conn, "unknown_outcome_messages", limit=limit)
    for message_id in (r["id"] for r in rows):
        async with rt.pool.connection() as conn:
            row = await sql.one(conn, "get_message_any_org", id=message_id)
        meta = (row or {}).get("metadata") or {}
        if row is None or not (meta.get("inFlight") or meta.get("acceptedSid")):
            continue
        try:
            if meta.get("acceptedSid"):
                done[await _record_accepted(rt, row, meta["acceptedSid"])] += 1
                continue
            adopted = await _adopt_earlier_send(rt, row, meta["inFlight"])
            if adopted == "ambiguous":
                done["unknown"] += 1
                continue
        except TwilioError as exc:
            done["unknown"] += 1
            async with rt.pool.connection() as conn:  # to the back of the line
                await sql.execute(conn, "merge_metadata", id=message_id, metadata={"lastCheckError": str(exc)})
            continue
        if adopted == "adopted":
            done["adopted"] += 1
            continue
        async with rt.pool.connection() as conn, conn.transaction():
            locked = await sql.one(conn, "lock_message", id=message_id)
            if locked["status"] != "queued" or locked["twilioSid"] or locked["metadata"].get("outcome") != "unknown":
                continue
            await sql.execute(conn, "merge_metadata", id=message_id, metadata={
                "outcome": None, "hold": None, "failedChecks": None, "lastCheckError": None})
            await jobs.enqueue_send(conn, message_id)
        done["released"] += 1
        log.info("send %s: Twilio has no copy of the earlier attempt; released to its job", message_id)
    return done


async def _record_accepted(rt: Runtime, row: dict[str, Any], sid: str) -> str:
    async with rt.pool.connection() as conn:
        if await sql.one(conn, "sid_taken", sid=sid):
            return "operator"
    found = await rt.gateway.fetch_message(sid)
    async with rt.pool.connection() as conn, conn.transaction():
        locked = await sql.one(conn, "lock_message", id=row["id"])
        await advance(conn, locked, found["status"], twilio_sid=sid,
                      metadata={**ADOPTED, "acceptedSid": None, "acceptedStatus": None, "reconciled": True})
    return "adopted"


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
