"""What Twilio may already have: an earlier attempt's copy to adopt, and outcomes nobody knows.

A send whose earlier attempt may have reached Twilio is not resent blindly: Twilio is asked
first, and its copy adopted. What nobody can establish (Twilio cannot be asked, or accepted a
message we could not record) is held as an unknown outcome, never `failed`, never resent, until
a status callback (it carries our id), the scheduler's `unknown_outcomes` duty or an operator
settles it.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import phone, smart_encoding
from smsrelay.service import jobs
from smsrelay.service.delivery.status_updates import advance
from smsrelay.service.outbound import throttle
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql
from smsrelay.twilio.errors import TwilioError

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


def _now() -> datetime:
    return datetime.now(timezone.utc)


# Clocks: ours stamps the marker, Twilio's DateCreated (whole seconds) the copy.
CLOCK_ALLOWANCE_SECONDS = 2


async def adopt_earlier_send(rt: Runtime, row: dict[str, Any], in_flight: dict[str, Any]) -> str:
    """An earlier attempt died after calling Twilio: find what Twilio accepted, if anything.
    "adopted", "none" (Twilio has no copy) or "ambiguous" (held: never a guess, never a resend).
    A TwilioError here propagates: not knowing whether Twilio has it, we must not resend.

    A status callback naming our id records the sid before any of this (the job then finds the
    message settled). Otherwise a copy must match the recipient, the sender or Messaging
    Service, the window in which our requests could have been processed (the marker's first
    attempt to the time its last is certainly settled: Twilio goes on with a request after our
    client gave up) and the body after smart encoding; it must be
    unclaimed by any row, and no other unsettled row may be able to own it."""
    since = datetime.fromisoformat(in_flight["since"]) - timedelta(seconds=CLOCK_ALLOWANCE_SECONDS)
    until = _settled_at(rt, in_flight) + timedelta(seconds=CLOCK_ALLOWANCE_SECONDS)
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


def unsettled_seconds(rt: Runtime, in_flight: dict[str, Any]) -> float:
    """How long until the last attempt is certainly settled at Twilio: a request can only be
    processed while our side still waits for it, so twice our timeout plus a margin bounds it."""
    return max(0.0, (_settled_at(rt, in_flight) - _now()).total_seconds())


def _settled_at(rt: Runtime, in_flight: dict[str, Any]) -> datetime:
    """The assumption both the settle wait and the search window rest on: Twilio has finished
    with a request twice our timeout plus a margin after we sent it, even one we gave up on."""
    last = datetime.fromisoformat(in_flight.get("last") or in_flight["since"])
    return last + timedelta(seconds=2 * rt.settings.twilio_timeout_seconds + 5)


async def check_failed(rt: Runtime, message_id: str, exc: TwilioError) -> str:
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
            adopted = await adopt_earlier_send(rt, row, meta["inFlight"])
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
