"""Accepting outbound messages from an org's API call, and reading them back."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.types.json import Jsonb

from smsrelay.domain import admission as admission_rules
from smsrelay.domain import channels, ids, lint, message_view, phone, segments, spend, text
from smsrelay.service.outbound import admission, spend_guard
from smsrelay.service.outbound import channels as outbound_channels
from smsrelay.service.outbound.channels import PLAIN, Extras
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql


def _request_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def present(row: dict[str, Any], events: list[dict[str, Any]] | None = None,
            destination_price: Any = None) -> dict[str, Any]:
    meta = row.get("metadata") or {}
    out = {
        "id": row["id"],
        "direction": row["direction"],
        "status": row["status"],
        "from": row["from"],
        "to": row["to"],
        "body": row["content"],
        "segments": row["segments"],
        "encoding": row["encoding"],
        "twilioSid": row["twilioSid"],
        "errorCode": meta.get("twilioErrorCode"),
        "errorMessage": meta.get("twilioErrorMessage"),
        "held": meta.get("hold"),
        "throttled": meta.get("throttled"),
        "attempts": meta.get("attempts", 0),
        "template": {"name": meta["template"], "version": meta.get("templateVersion")} if meta.get("template") else None,
        "createdAt": _iso(row["createdAt"]),
        "updatedAt": _iso(row["updatedAt"]),
        "channel": row.get("channel", channels.SMS),
        "sendAt": _iso(row.get("sendAt")),
        "mediaUrls": meta.get("mediaUrls", []),
        # Twilio's price once it is final (service/spend/prices.py), else the estimate if one was looked up.
        **spend.price_view(row.get("price"), row.get("priceUnit"), row["segments"], destination_price),
    }
    out.update(error=message_view.error(meta.get("twilioErrorCode"), meta.get("twilioErrorMessage")),
               waiting=message_view.waiting(row["status"], meta), **message_view.lineage(meta))
    if events is not None:
        out["history"] = [
            {"status": e["status"], "errorCode": e["errorCode"], "at": _iso(e["receivedAt"])} for e in events
        ]
    return out


def check_characters(**fields: str | None) -> None:
    """422 invalid_characters for the first field no SMS or record can hold (NUL, lone surrogate);
    checked before anything else, since every later step (parsing, lookups, storing) chokes on it."""
    for name, value in fields.items():
        if value is not None and (what := text.bad_character(value)):
            raise problems.INVALID_CHARACTERS(message=f"'{name}' contains {what}.", field=name)


def validate_body(body: str | None, required: bool = True) -> str:
    if (body is None or not body.strip()) and required:
        raise problems.EMPTY_BODY()
    body = body or ""
    if segments.too_long(body):
        raise problems.BODY_TOO_LONG(length=len(body), max_length=segments.MAX_BODY_CHARACTERS)
    return body


def pick_sender(senders: list[dict[str, Any]], requested: str | None, region: str) -> dict[str, Any]:
    """The org's sender for one message: the requested one if it is the org's, else the default."""
    if requested:
        check = phone.check(requested, region)
        wanted = check.e164 or requested
        for s in senders:
            if wanted in (s["number"], s["messagingServiceSid"]):
                return s
        raise problems.INVALID_FROM_NUMBER(number=requested)
    if not senders:
        raise problems.NO_SENDER()
    return senders[0]


def check_not_own_sender(check: phone.PhoneCheck, senders: list[dict[str, Any]]) -> None:
    """422 to_is_sender when `to` is one of the org's own numbers: Twilio refuses To = From
    (21266), and a message to another of its numbers would come straight back as inbound."""
    if any(s["number"] == check.e164 for s in senders):
        raise problems.TO_IS_SENDER(to=check.e164)


async def replay_or_org(conn: AsyncConnection, org_id: str, idempotency_key: str | None,
                        request_hash: str) -> tuple[tuple[int, dict[str, Any]] | None, dict[str, Any]]:
    """Inside the accepting transaction: the stored answer to replay, or the org (with its senders)."""
    if idempotency_key is not None:
        replay = await _replay(conn, org_id, idempotency_key, request_hash)
        if replay:
            return replay, {}
    org = await sql.one(conn, "org_for_send", org_id=org_id)
    if org is None:
        raise problems.NOT_FOUND(what="org")
    return None, org


# phonenumbers' parse and validation is the largest share of a send's own Python work (a single
# send's and each message of a batch's), and the answer depends only on the text and the region;
# orgs write to the same people again. One cache per process, shared by both.
check_number = functools.lru_cache(maxsize=65536)(phone.check)


def recipient(to: str, region: str, check: phone.PhoneCheck | None = None) -> phone.PhoneCheck:
    """The parsed recipient (`check`, if already parsed), or 422 invalid_to_number."""
    check = check or check_number(to, region)
    if not check.valid or not check.e164:
        raise problems.INVALID_TO_NUMBER(to=to, reason=check.reason)
    return check


def opted_out(e164: str) -> Problem:
    return problems.RECIPIENT_OPTED_OUT(masked=phone.mask(e164))


async def accept(conn: AsyncConnection, org_id: str, *, to: str, body: str, from_: str | None = None,
                 idempotency_key: str | None = None, metadata: dict[str, Any] | None = None,
                 status_callback: str | None = None, extras: Extras = PLAIN) -> tuple[int, dict[str, Any]]:
    """Validate, store the message and enqueue its send in one transaction. Returns (status, body)."""
    check_characters(to=to, body=body, **{"from": from_})
    request = {"to": to, "body": body, "from": from_, **extras.hashed()}
    request_hash = _request_hash(request)
    async with conn.transaction():
        replay, org = await replay_or_org(conn, org_id, idempotency_key, request_hash)
        if replay:
            return replay
        prepared = outbound_channels.prepare(org, extras, to=to, body=body)
        validate_body(body, required=outbound_channels.body_required(prepared))
        check = recipient(prepared.number, org["defaultRegion"])
        sender = pick_sender(prepared.senders, from_, org["defaultRegion"])
        check_not_own_sender(check, org["senders"])
        address = prepared.address(check.e164)
        if await sql.one(conn, "is_opted_out", org_id=org_id, phone=address):
            raise opted_out(check.e164)
        if (closed := await outbound_channels.window(conn, org_id, prepared, address, sender["number"])) is not None:
            raise closed
        findings = await admission.screen(conn, org, check, body,
                                          body_optional=not outbound_channels.body_required(prepared))
        info = segments.analyse(body)
        billed = channels.billing(prepared.channel, info.segments).segments
        await spend_guard.check_daily_cap(conn, org, billed)
        message_id = ids.new_id("msg")
        await insert_with_jobs(conn, org_id, [outbound_row(message_id, sender, check, body, billed,
                                                           info.encoding, findings, metadata, status_callback, prepared)])
        response = {"id": message_id, "status": prepared.status, "segments": billed,
                    "encoding": info.encoding, "to": address, "from": sender["number"], "findings": findings,
                    **prepared.response()}
        if idempotency_key is not None:
            stored = await sql.one(conn, "insert_idempotency", org_id=org_id, key=idempotency_key,
                                   request_hash=request_hash, response_status=202, response_body=response)
            if stored is None:
                # A concurrent request with the same key committed first: undo ours, replay theirs.
                raise _LostRace()
    return 202, response


# ---- a single send in one statement (accept_message): plan in Python, one round trip, settle ----

STALE = "stale"    # the org's policies or sender changed since they were cached: plan again
CAPPED = "capped"  # the org has a daily cap: accept_idempotent's transaction (the cap lock) decides


@dataclass
class Plan:
    """What accept_message needs, and the Problems only its answer can choose between."""
    params: dict[str, Any]
    request_hash: str
    first_problem: Problem | None = None  # precedes an idempotent replay (as check_characters does)
    problem: Problem | None = None        # body, recipient, sender: after the replay
    e164: str | None = None
    refusals: dict[bool, Problem | None] = field(default_factory=dict)  # by first contact
    responses: dict[bool, dict[str, Any]] = field(default_factory=dict)
    prepared: outbound_channels.Prepared | None = None  # the channel's facts (channels.window reads them)


def plan(org: dict[str, Any], *, key_hash: str, window: datetime, increment: int, per_minute: int,
         counter: dict[str, Any], to: str, body: str, from_: str | None, idempotency_key: str | None,
         metadata: dict[str, Any] | None = None, status_callback: str | None = None,
         extras: Extras = PLAIN) -> Plan:
    """Every check accept() makes that needs no database, with the org as cached; the statement
    then reads the rest and re-checks the policies this plan assumed."""
    params: dict[str, Any] = dict(
        key_hash=key_hash, window=window, increment=increment, per_minute=per_minute, idempotency_key=idempotency_key,
        region=org["defaultRegion"], content_policy=org["contentPolicy"], landline_policy=org["landlinePolicy"],
        countries=org["allowedCountries"], proceed=False, sender=None, service=None, to=None,
        refuse_first=False, refuse_repeat=False, id=None, content=None, segments=None, encoding=None,
        metadata_first=None, metadata_repeat=None, response_first=None, response_repeat=None,
        channel=channels.SMS, status="queued", send_at=None, **counter)
    # The hash only ever meets a stored idempotency answer.
    result = Plan(params, _request_hash({"to": to, "body": body, "from": from_, **extras.hashed()})
                  if idempotency_key is not None else "")
    params["request_hash"] = result.request_hash
    try:
        check_characters(to=to, body=body, **{"from": from_})
    except Problem as problem:
        params["idempotency_key"] = None
        result.first_problem = problem
        return result
    try:
        prepared = result.prepared = outbound_channels.prepare(org, extras, to=to, body=body)
        validate_body(body, required=outbound_channels.body_required(prepared))
        check = recipient(prepared.number, org["defaultRegion"])
        sender = pick_sender(prepared.senders, from_, org["defaultRegion"])
        check_not_own_sender(check, org["senders"])
    except Problem as problem:
        result.problem = problem
        return result
    message_id = ids.new_id("msg")
    result.e164 = check.e164
    address = prepared.address(check.e164)
    params.update(proceed=True, sender=sender["number"], service=sender["messagingServiceSid"], to=address,
                  id=message_id, content=body, channel=prepared.channel, status=prepared.status,
                  send_at=prepared.send_at)
    for first, content in zip((True, False), outbound_channels.lint_both(body, prepared)):
        verdict = admission_rules.screen(check, content, allowed_countries=org["allowedCountries"],
                                         landline_policy=org["landlinePolicy"], content_policy=org["contentPolicy"])
        findings = verdict.findings_dicts()
        result.refusals[first] = problems.refused(verdict.refusal) if verdict.refusal is not None else None
        billed = channels.billing(prepared.channel, content.segments).segments
        row = outbound_row(message_id, sender, check, body, billed, content.encoding, findings, metadata,
                           status_callback, prepared)
        result.responses[first] = {"id": message_id, "status": prepared.status, "segments": billed,
                                   "encoding": content.encoding, "to": address, "from": sender["number"],
                                   "findings": findings, **prepared.response()}
        suffix = "first" if first else "repeat"
        params.update({f"refuse_{suffix}": verdict.refusal is not None, f"metadata_{suffix}": row["metadata"],
                       f"response_{suffix}": result.responses[first], "segments": billed,
                       "encoding": content.encoding})
    return result


async def run(conn: AsyncConnection, plan: Plan, org_id: str) -> dict[str, Any] | tuple[int, dict[str, Any]] | None:
    """accept_message's row (None: no such key), or the answer to replay when a concurrent request
    with the same idempotency key committed first (our statement, row included, was undone)."""
    try:
        return await sql.one(conn, "accept_message", **plan.params)
    except errors.UniqueViolation as exc:
        if exc.diag.constraint_name != "IdempotencyKey_pkey":
            raise
        replay = await _replay(conn, org_id, plan.params["idempotency_key"], plan.request_hash)
        assert replay is not None
        return replay


def settle(plan: Plan, row: dict[str, Any]) -> tuple[int, dict[str, Any]] | str:
    """The answer accept() would give, in its order of precedence; STALE or CAPPED when only
    another round can tell. The caller has already applied the key's request limit."""
    if plan.first_problem is not None:
        raise plan.first_problem
    if row["replayHash"] is not None:
        if row["replayHash"] != plan.request_hash:
            raise problems.IDEMPOTENCY_KEY_REUSED()
        return row["replayStatus"], row["replayBody"]
    if row["stale"]:
        return STALE
    if plan.problem is not None:
        raise plan.problem
    if row["optedOut"]:
        raise opted_out(plan.e164)
    if (refusal := plan.refusals[row["first"]]) is not None:
        raise refusal
    if row["capped"]:
        return CAPPED
    if not row["accepted"]:
        raise RuntimeError("accept_message stored no queue row for an accepted message")
    return 202, plan.responses[row["first"]]


def outbound_row(message_id: str, sender: dict[str, Any], check: phone.PhoneCheck, body: str, segment_count: int,
                 encoding: str, findings: list[dict[str, Any]], extra: dict[str, Any] | None = None,
                 status_callback: str | None = None,
                 prepared: outbound_channels.Prepared | None = None) -> dict[str, Any]:
    """A queued outbound message as insert_with_jobs stores it; `extra` (the template it was
    rendered from, service/templates/sending.py) goes into its metadata, and `prepared` its
    channel, media and send time (service/outbound/channels.py)."""
    metadata: dict[str, Any] = {"attempts": 0, "country": check.country, **(extra or {})}
    if status_callback:
        # Read by the "MessageLog" event triggers (migration 0020): where this message's events go.
        metadata["statusCallback"] = status_callback
    if findings:
        metadata["findings"] = findings
    if sender["messagingServiceSid"]:
        metadata["messagingServiceSid"] = sender["messagingServiceSid"]
    row = {"id": message_id, "from": sender["number"], "to": check.e164, "content": body,
           "segments": segment_count, "encoding": encoding, "metadata": metadata}
    if prepared is not None:
        metadata.update(prepared.metadata)
        row.update(to=prepared.address(check.e164), channel=prepared.channel, status=prepared.status,
                   sendAt=prepared.send_at)
    return row


async def insert_with_jobs(conn: AsyncConnection, org_id: str, messages: list[dict[str, Any]]) -> None:
    """Queued outbound rows and their send jobs (as jobs.enqueue_send makes them), one statement."""
    columns = {"ids": "id", "froms": "from", "tos": "to", "contents": "content", "segments": "segments",
               "encodings": "encoding"}
    arrays: dict[str, list[Any]] = {param: [m[key] for m in messages] for param, key in columns.items()}
    arrays["metadata"] = [Jsonb(m["metadata"]) for m in messages]
    arrays["channels"] = [m.get("channel", channels.SMS) for m in messages]
    arrays["statuses"] = [m.get("status", "queued") for m in messages]
    arrays["send_ats"] = [m.get("sendAt") for m in messages]
    done = await sql.one(conn, "insert_outbound_with_jobs", org_id=org_id, **arrays)
    if done is None or done["jobs"] != len(messages):
        raise RuntimeError(f"stored {done and done['jobs']} send jobs for {len(messages)} messages")


class _LostRace(Exception):
    pass


async def accept_idempotent(conn: AsyncConnection, org_id: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    try:
        return await accept(conn, org_id, **kwargs)
    except _LostRace:
        request_hash = _request_hash({"to": kwargs["to"], "body": kwargs["body"], "from": kwargs.get("from_"),
                                      **kwargs.get("extras", PLAIN).hashed()})
        replay = await _replay(conn, org_id, kwargs["idempotency_key"], request_hash)
        assert replay is not None
        return replay


async def _replay(conn: AsyncConnection, org_id: str, key: str, request_hash: str) -> tuple[int, dict[str, Any]] | None:
    found = await sql.one(conn, "get_idempotency", org_id=org_id, key=key)
    if found is None:
        return None
    if found["requestHash"] != request_hash:
        raise problems.IDEMPOTENCY_KEY_REUSED()
    return found["responseStatus"], found["responseBody"]


async def get(conn: AsyncConnection, org_id: str, message_id: str) -> dict[str, Any]:
    row = await sql.one(conn, "get_message", id=message_id, org_id=org_id)
    if row is None:
        raise problems.NOT_FOUND(what="message")
    events = await sql.all(conn, "message_events", message_id=message_id)
    estimate = None
    if row["price"] is None and row["direction"] == "outbound" and row.get("channel", channels.SMS) == channels.SMS:
        found = await sql.one(conn, "destination_price", iso=(row["metadata"] or {}).get("country") or "")
        estimate = found["price"] if found else None
    return present(row, events, estimate)
