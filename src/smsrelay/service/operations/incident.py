"""Investigating an incident: the runbook's queries (steps 1, 2, 4, 5), the facts a diagnosis
needs (our database, our own state, live Twilio checks) and the diagnosis itself.

Windows are measured on the database's clock, so every process agrees on "the last hour".
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import channels
from smsrelay.domain import diagnosis
from smsrelay.domain import diagnosis_time as timing
from smsrelay.domain import catalogue
from smsrelay.domain import phone
from smsrelay.domain import rates
from smsrelay.service.outbound import guards
from smsrelay.service.operations import rollup, template_incident
from smsrelay.service.operations.twilio_checks import twilio_checks
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime
from smsrelay.service.spend import pumping
from smsrelay.store import sql

# A send lease lasts 3 heartbeats: past it a worker's sends come due for others, so it counts as
# gone; a killed worker's "SendWorker" row keeps its last heartbeat (for a day).
WORKER_ALIVE_SECONDS = 30
RECENT_MINUTES = 10
TWILIO_CALL_SECONDS = 10.0

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)?\s*$", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> timedelta:
    """'90s', '30m', '1h', '2d' (a bare number is minutes)."""
    match = _DURATION.match(text or "")
    if not match:
        raise problems.INVALID_SINCE(text=text)
    seconds = int(match.group(1)) * _UNITS[(match.group(2) or "m").lower()]
    if not 0 < seconds <= 31 * 86400:
        raise problems.INVALID_SINCE("out_of_range", text=text)
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    label: str

    def to_dict(self) -> dict[str, str]:
        return {"since": iso(self.since), "until": iso(self.until)}

    def params(self) -> dict[str, datetime]:
        return {"since": self.since, "until": self.until}


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


async def window(conn: AsyncConnection, label: str) -> Window:
    span = parse_since(label)
    now = (await sql.one(conn, "database_now"))["now"]
    return Window(now - span, now, label.strip())


async def check_org(conn: AsyncConnection, org_id: str | None) -> str | None:
    if org_id is not None and await sql.one(conn, "org_exists", org_id=org_id) is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return org_id


def channel_filter(channel: str | None) -> str | None:
    """--channel sms|mms|whatsapp (None: every channel), or 422 invalid_channel."""
    if channel is None:
        return None
    if channel.lower() not in channels.CHANNELS:
        raise problems.INVALID_CHANNEL(message=f"--channel is one of {', '.join(channels.CHANNELS)}.", field="channel")
    return channel.lower()


def describe_code(code: str | None) -> dict[str, Any]:
    entry = catalogue.lookup(code)
    if entry is None:
        return {"meaning": "Not a Twilio catalogue code" if code else "No error code recorded",
                "action": "Look it up at https://www.twilio.com/docs/api/errors", "retryable": False, "cause": "none",
                "retryRule": "never retried: the catalogue does not know it", "source": ""}
    return {"meaning": entry.meaning, "action": entry.action, "retryable": entry.retryable, "cause": entry.cause,
            "retryRule": entry.retry_rule, "source": entry.source}


# --- the runbook's investigation steps -------------------------------------------------------

async def status(conn: AsyncConnection, since: str, org_id: str | None = None,
                 channel: str | None = None) -> dict[str, Any]:
    """Runbook step 1: outbound by status (of one channel if given)."""
    channel = channel_filter(channel)
    w = await window(conn, since)
    await check_org(conn, org_id)
    counts: dict[str, int] = {}
    for r in await rollup.outcomes(conn, w.since, w.until, org_id=org_id, channel=channel):
        counts[r["status"]] = counts.get(r["status"], 0) + r["count"]
    rows = [{"status": s, "count": n} for s, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    total = sum(r["count"] for r in rows)
    failed = sum(r["count"] for r in rows if r["status"] in ("failed", "undelivered"))
    delivered = sum(counts.get(s, 0) for s in rates.DELIVERED)
    return {"window": w.to_dict(), "org": org_id, "channel": channel, "total": total, "failed": failed,
            "failureRate": round(failed / total, 4) if total else 0.0,
            "statuses": [{"status": r["status"], "count": r["count"]} for r in rows],
            "deliveryRate": rates.delivery_rate(delivered, delivered + failed)}


async def failures(conn: AsyncConnection, since: str, org_id: str | None = None, code: str | None = None,
                   limit: int = 50, channel: str | None = None) -> dict[str, Any]:
    """Runbook step 2: the latest failures with their Twilio error."""
    if not 1 <= limit <= 1000:
        raise problems.INVALID_LIMIT()
    w = await window(conn, since)
    await check_org(conn, org_id)
    rows = await sql.all(conn, "incident_failures", org_id=org_id, code=code, limit=limit,
                         channel=channel_filter(channel), **w.params())
    return {"window": w.to_dict(), "org": org_id, "failures": [
        {"id": r["id"], "orgId": r["orgId"], "channel": r["channel"], "status": r["status"], "from": r["from"],
         "to": phone.mask(r["to"]), "errorCode": r["error_code"], "errorMessage": r["error_message"],
         "meaning": describe_code(r["error_code"])["meaning"], "createdAt": iso(r["createdAt"])} for r in rows]}


async def orgs(conn: AsyncConnection, since: str, org_id: str | None = None,
               channel: str | None = None) -> dict[str, Any]:
    """Runbook step 4: outcomes per org, worst first (of one channel if given, with that
    channel's switch as "disabled"; "smsDisabled" stays the runbook's SMS switch)."""
    channel = channel_filter(channel)
    w = await window(conn, since)
    await check_org(conn, org_id)
    counts = rollup.by_org(await rollup.outcomes(conn, w.since, w.until, org_id=org_id, channel=channel))
    names = {o["id"]: o for o in await sql.all(conn, "list_orgs")}
    out = []
    for oid, c in counts.items():
        org = names.get(oid, {})
        bad = c["failed"] + c["undelivered"]
        out.append({"orgId": oid, "name": org.get("name", oid), **c,
                    "failureRate": round(bad / c["total"], 4) if c["total"] else 0.0,
                    "smsDisabled": bool(org.get("smsDisabled")),
                    "disabled": bool(org.get(channels.DISABLED_COLUMN[channel or channels.SMS])),
                    "maxMessagesPerMinute": org.get("maxMessagesPerMinute"),
                    "deliveryRate": rates.delivery_rate(c["delivered"], c["delivered"] + bad)})
    out.sort(key=lambda o: (-o["failed"], -o["undelivered"], -o["total"], o["orgId"]))
    return {"window": w.to_dict(), "org": org_id, "channel": channel, "orgs": out}


async def error_codes(conn: AsyncConnection, since: str, org_id: str | None = None,
                      channel: str | None = None) -> dict[str, Any]:
    """Runbook step 5, from data: every code seen, with the catalogue's meaning and action."""
    w = await window(conn, since)
    await check_org(conn, org_id)
    channel = channel_filter(channel)
    final = await sql.all(conn, "incident_error_codes", org_id=org_id, channel=channel, **w.params())
    retrying = await sql.all(conn, "incident_retrying_codes", org_id=org_id, channel=channel, **w.params())
    out = []
    for rows, still_retrying in ((final, False), (retrying, True)):
        for r in rows:
            out.append({"code": r["code"], "count": r["count"], "orgs": r["orgs"], "retrying": still_retrying,
                        "firstAt": iso(r["first_at"]), "lastAt": iso(r["last_at"]), **describe_code(r["code"])})
    return {"window": w.to_dict(), "org": org_id, "errors": out}


# --- facts and diagnosis ----------------------------------------------------------------------

async def _failure_facts(rt: Runtime, w: Window, channel: str | None = None) -> tuple[diagnosis.Failure, ...]:
    p = {**w.params(), "recent_since": w.until - timedelta(seconds=timing.RECENT_SECONDS), "channel": channel}
    async with rt.pool.connection() as conn:
        failed = [diagnosis.Failure(r["code"], r["orgId"], r["from"], r["count"], r["country"],
                                    first_at=r["first_at"], last_at=r["last_at"], recent=r["recent"],
                                    recovered=r["recovered"], template=r["template"], channel=r["channel"])
                  for r in await sql.all(conn, "diagnose_failures", **p)]
        failed += [diagnosis.Failure(r["code"], r["orgId"], r["from"], r["count"], r["country"], transient=True,
                                     http_status=r["http_status"], first_at=r["first_at"], last_at=r["last_at"],
                                     recent=r["recent"], template=r["template"], channel=r["channel"])
                   for r in await sql.all(conn, "diagnose_transient", **p)]
    return tuple(failed)


async def _traffic_facts(rt: Runtime, w: Window, channel: str | None = None) -> tuple[diagnosis.Traffic, ...]:
    async with rt.pool.connection() as conn:
        return tuple(diagnosis.Traffic(r["orgId"], r["from"], r["total"], r["failed"], r["delivered"], r["last_ok_at"])
                     for r in await sql.all(conn, "diagnose_traffic", channel=channel, **w.params()))


BASELINE_DAYS = 7


def baseline_hours(w: Window, days: int = BASELINE_DAYS) -> list[datetime]:
    """The rollup hours the window touches, on each of the `days` days before."""
    first, last = rollup.floor(w.since), rollup.floor(w.until)
    span = int((last - first) / rollup.HOUR)
    return [first - timedelta(days=d) + rollup.HOUR * h for d in range(1, days + 1) for h in range(span + 1)]


async def _baseline_facts(rt: Runtime, w: Window) -> tuple[diagnosis.Baseline, ...]:
    async with rt.pool.connection() as conn:
        return tuple(diagnosis.Baseline(r["code"], r["orgId"], r["count"], BASELINE_DAYS)
                     for r in await sql.all(conn, "diagnose_baseline", hours=baseline_hours(w)))


async def _pipeline_facts(rt: Runtime) -> diagnosis.Pipeline:
    async with rt.pool.connection() as conn:
        queue = await sql.one(conn, "diagnose_queue", stuck_after=diagnosis.STUCK_AFTER_SECONDS)
        held = tuple(diagnosis.Held(r["reason"] or "?", r["orgId"], r["count"])
                     for r in await sql.all(conn, "diagnose_held"))
        jobs_row = await sql.one(conn, "diagnose_jobs")
        workers = await sql.one(conn, "diagnose_workers", alive_within=WORKER_ALIVE_SECONDS)
        flow = await sql.one(conn, "diagnose_flow", minutes=RECENT_MINUTES)
        mitigations = await sql.all(conn, "guarded_orgs")
        paused = await guards.paused(conn)
    return diagnosis.Pipeline(
        queued_unsent=queue["queued_unsent"], oldest_queued_age_s=queue["oldest_queued_age_s"],
        stuck_unsent=queue["stuck_unsent"], jobs_todo=jobs_row["todo"],
        workers_alive=workers["alive"], workers_registered=workers["registered"],
        last_heartbeat_age_s=workers["last_heartbeat_age_s"],
        inbound_recent=flow["inbound"], outbound_recent=flow["outbound"], outbound_handed_recent=flow["handed"],
        recent_minutes=RECENT_MINUTES, paused=paused, feature_enabled=rt.settings.feature_sms_enabled,
        disabled_orgs=tuple(m["orgId"] for m in mitigations if m["smsDisabled"]),
        throttled_orgs=tuple((m["orgId"], m["maxMessagesPerMinute"]) for m in mitigations
                             if m["maxMessagesPerMinute"] is not None),
        held=held)


async def _pipeline_and_pumping(rt: Runtime, w: Window) -> tuple[diagnosis.Pipeline, tuple[Any, ...]]:
    # The pipeline's queries are the quickest group: the pumping window follows them on the
    # third connection instead of after every group.
    pipeline = await _pipeline_facts(rt)
    async with rt.pool.connection() as conn:
        return pipeline, tuple(await pumping.signals(conn, w.since, w.until))


async def _traffic_and_baseline(rt: Runtime, w: Window, channel: str | None = None) -> tuple[Any, Any]:
    # One after the other: both are quick, and three connections at once is what the CLI's pool allows for.
    return await _traffic_facts(rt, w, channel), await _baseline_facts(rt, w)


async def gather_facts(rt: Runtime, since: str, *, live: bool = True, channel: str | None = None) -> diagnosis.Facts:
    """Every fact at once: three groups of queries on their own connections, and Twilio's
    answers (its latency is the largest part) while they run."""
    async with rt.pool.connection() as conn:
        w = await window(conn, since)
    channel = channel_filter(channel)  # the window's traffic and failures of one channel
    failures = asyncio.ensure_future(_failure_facts(rt, w, channel))
    try:
        checks = twilio_checks(rt, failures) if live else asyncio.sleep(0, None)  # None: not asked
        (traffic, baseline), (pipeline, pumped), tw = await asyncio.gather(
            _traffic_and_baseline(rt, w, channel), _pipeline_and_pumping(rt, w), checks)
        failed = await failures
    finally:
        if not failures.done():
            failures.cancel()
    return diagnosis.Facts(since=w.since, until=w.until, since_label=w.label, twilio=tw,
                           traffic=traffic, failures=failed, pipeline=pipeline, baseline=baseline, pumping=pumped)


async def diagnose(rt: Runtime, since: str = "1h", *, live: bool = True, channel: str | None = None) -> dict[str, Any]:
    facts = await gather_facts(rt, since, live=live, channel=channel)
    causes = [c.to_dict() for c in diagnosis.diagnose(facts)]
    templates = await template_incident.for_diagnosis(rt, facts.since, facts.until, causes)
    return {"window": {"since": iso(facts.since), "until": iso(facts.until)}, "causes": causes,
            "templates": templates}


# --- Twilio checks (the runbook's console and `twilio` CLI steps) ------------------------------

async def _twilio(call: Any) -> Any:
    from smsrelay.twilio.errors import Ambiguous, TwilioError

    try:
        return await asyncio.wait_for(call, TWILIO_CALL_SECONDS)
    except asyncio.TimeoutError:
        raise problems.TWILIO_TIMEOUT(seconds=TWILIO_CALL_SECONDS) from None
    except Ambiguous as exc:
        if exc.timed_out:
            raise problems.TWILIO_TIMEOUT("late", msg=exc.message) from None
        if exc.http_status is not None:
            raise problems.TWILIO_ERROR(status=exc.http_status, msg=exc.message, code=exc.code) from None
        raise problems.TWILIO_UNREACHABLE("plain", msg=exc.message) from None
    except TwilioError as exc:
        if exc.http_status is None:
            raise problems.TWILIO_UNREACHABLE("plain", msg=exc.message) from None
        raise problems.TWILIO_ERROR(status=exc.http_status, msg=exc.message, code=exc.code) from None


async def twilio_balance(rt: Runtime) -> dict[str, Any]:
    return await _twilio(rt.gateway.balance())


async def twilio_account(rt: Runtime) -> dict[str, Any]:
    return await _twilio(rt.gateway.account())


async def twilio_numbers(rt: Runtime, number: str | None = None) -> list[dict[str, Any]]:
    if number is not None:
        check = phone.check(number, "US")
        if not check.valid or not check.e164:
            raise problems.INVALID_NUMBER("e164", raw=number)
        number = check.e164
    found = await _twilio(rt.gateway.numbers(number))
    if number is not None and not found:
        raise problems.NUMBER_NOT_FOUND(number=number)
    return found
