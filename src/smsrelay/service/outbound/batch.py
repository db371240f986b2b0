"""Accepting a batch of outbound messages (POST /v1/messages:batch) in one transaction.

Each message gets exactly the checks a single send gets (messages.accept), in the same order,
as if the batch's messages were sent one after another: its channel, media, content template
and send time (channels.prepare), body, recipient, sender, opt-out, WhatsApp's window, the
org's admission policies (a recipient is "first" only if no earlier message of the org, nor an
earlier accepted one of this batch, went to it), then the daily cap. A message that fails one
is reported with its index and the code a single send would answer, and is not stored; every
accepted message's row and send job commit together in one transaction, all or none.

What a single send looks up per message is looked up once per batch: the org, its senders,
the opt-outs and the recipients already messaged (one `= ANY` query each), and the daily cap
(locked once, counted for the whole batch). The rows and their "SendQueue" rows go in with one
statement.

Org disable, kill switch and rate limits act at dispatch, for a batch as for a single send:
the messages are accepted and queued, and the worker holds them (never drops them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import admission, channels, ids, lint, phone
from smsrelay.service.outbound import channels as outbound_channels
from smsrelay.service.outbound import spend_guard
from smsrelay.service.outbound.channels import PLAIN, Extras, Prepared
from smsrelay.service.outbound.messages import (_LostRace, _replay, _request_hash, check_number, insert_with_jobs, opted_out,
                                       check_characters, check_not_own_sender, outbound_row, pick_sender, recipient, replay_or_org,
                                       validate_body)
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql

MAX_BATCH = 1000


def _error(index: int, problem: Problem) -> dict[str, Any]:
    return {"index": index, **problem.to_dict()}


def _batch_hash(items: Sequence[tuple[str, str, str | None]], channel_extras: Sequence[Extras] = ()) -> str:
    # "batch" keeps a batch's hash apart from any single send's with the same key; a plain SMS
    # adds nothing to it (Extras.hashed), so a batch of SMS hashes as it always did.
    extras = list(channel_extras) or [PLAIN] * len(items)
    return _request_hash({"batch": [{"to": to, "body": body, "from": from_, **extra.hashed()}
                                    for (to, body, from_), extra in zip(items, extras)]})


def check_size(count: int) -> None:
    if count < 1:
        raise problems.BATCH_EMPTY()
    if count > MAX_BATCH:
        raise problems.BATCH_TOO_LARGE(count=count, maxMessages=MAX_BATCH)


async def accept_batch(conn: AsyncConnection, org_id: str, items: Sequence[tuple[str, str, str | None]], *,
                       idempotency_key: str | None = None,
                       extras: Sequence[dict[str, Any] | Problem | None] | None = None,
                       status_callbacks: Sequence[str | None] = (),
                       channel_extras: Sequence[Extras] = ()) -> tuple[int, dict[str, Any]]:
    """items: (to, body, from) per message; extras (optional, by index): metadata to store with
    it (its template) or the Problem that refuses it; status_callbacks (optional, by index): where
    its status events go; channel_extras (optional, by index): its channel, media, content
    template and send time, checked as a single send checks them (service/outbound/channels.py).
    Returns (200, {"accepted", "rejected", "results"})."""
    check_size(len(items))
    channel_extras = list(channel_extras) or [PLAIN] * len(items)
    request_hash = _batch_hash(items, channel_extras) if idempotency_key is not None else ""
    async with conn.transaction():
        replay, org = await replay_or_org(conn, org_id, idempotency_key, request_hash)
        if replay:
            return replay
        region = org["defaultRegion"]

        # 1. What needs no database: channel, body, recipient, sender.
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, str, phone.PhoneCheck, dict[str, Any], Prepared]] = []
        extra = list(extras) if extras is not None else [None] * len(items)
        # A sender is chosen among the channel's senders: WhatsApp from a whatsapp: one, SMS and MMS not.
        chosen: dict[tuple[bool, str | None], dict[str, Any] | Problem] = {}
        own = {s["number"] for s in org["senders"]}
        for i, (to, body, from_) in enumerate(items):
            try:
                if isinstance(extra[i], Problem):
                    raise extra[i]
                check_characters(to=to, body=body, **{"from": from_})
                prepared = outbound_channels.prepare(org, channel_extras[i], to=to, body=body)
                body = validate_body(body, required=outbound_channels.body_required(prepared))
                check = recipient(prepared.number, region, check_number(prepared.number, region))
                kind = (prepared.channel == channels.WHATSAPP, from_)
                sender = chosen.get(kind)
                if sender is None:
                    try:
                        sender = pick_sender(prepared.senders, from_, region)
                    except Problem as exc:
                        sender = exc
                    chosen[kind] = sender
                if isinstance(sender, Problem):
                    raise sender
                if check.e164 in own:
                    check_not_own_sender(check, org["senders"])  # raises its Problem
            except Problem as exc:
                results[i] = _error(i, exc)
                continue
            valid.append((i, body, check, sender, prepared))

        # 2. Opt-outs (by the address the message goes to: whatsapp:+… on WhatsApp) and earlier
        # recipients of every valid message, one query each.
        addresses = list({prepared.address(check.e164) for _, _, check, _, prepared in valid})
        phones = list({check.e164 for _, _, check, _, _ in valid})
        stopped = {r["phone"] for r in await sql.all(conn, "batch_opted_out", org_id=org_id, phones=addresses)}
        messaged = {r["to"] for r in await sql.all(conn, "batch_messaged", org_id=org_id, phones=phones)}

        # 3. The org's policies, then the daily cap, message by message in the batch's order.
        remaining = await spend_guard.remaining_today(conn, org) if valid else None
        lints: dict[tuple[str, bool], lint.LintResult] = {}
        rows: list[dict[str, Any]] = []
        accepted = 0
        used = 0  # segments, as the cap counts them
        for i, body, check, sender, prepared in valid:
            e164 = check.e164
            assert e164 is not None
            address = prepared.address(e164)
            if address in stopped:
                results[i] = _error(i, opted_out(e164))
                continue
            # WhatsApp free text only within the person's 24-hour window: one probe per such message.
            if (closed := await outbound_channels.window(conn, org_id, prepared, address, sender["number"])) is not None:
                results[i] = _error(i, closed)
                continue
            first = e164 not in messaged
            optional = not outbound_channels.body_required(prepared)
            content = lints.get((body, first, optional))
            if content is None:
                content = lint.lint(body, first_message_to_recipient=first)
                if optional:  # media or a content template carries the message
                    content = lint.without(content, "empty_body")
                lints[(body, first, optional)] = content
            verdict = admission.screen(check, content, allowed_countries=org["allowedCountries"],
                                       landline_policy=org["landlinePolicy"], content_policy=org["contentPolicy"])
            if verdict.refusal is not None:
                results[i] = _error(i, problems.refused(verdict.refusal))
                continue
            billed = channels.billing(prepared.channel, content.segments).segments
            if remaining is not None and billed > remaining - used:
                results[i] = _error(i, spend_guard.cap_reached(org, segments=billed, remaining=remaining - used))
                continue
            findings = verdict.findings_dicts()
            message_id = ids.new_id("msg")
            rows.append(outbound_row(message_id, sender, check, body, billed, content.encoding, findings,
                                     extra[i], status_callbacks[i] if status_callbacks else None, prepared))
            messaged.add(e164)
            accepted += 1
            used += billed
            results[i] = {"index": i, "id": message_id, "status": prepared.status, "segments": billed,
                          "encoding": content.encoding, "to": address, "from": sender["number"], "findings": findings,
                          **prepared.response()}

        # 4. Every accepted row and its job, in one statement.
        if accepted:
            await insert_with_jobs(conn, org_id, rows)
        response = {"accepted": accepted, "rejected": len(items) - accepted, "results": results}
        # As for a single send, only an answer that committed something is kept for replay: a batch
        # refused whole (nothing stored) is evaluated afresh when retried with its key.
        if idempotency_key is not None and accepted:
            stored = await sql.one(conn, "insert_idempotency", org_id=org_id, key=idempotency_key,
                                   request_hash=request_hash, response_status=200, response_body=response)
            if stored is None:
                raise _LostRace()
    return 200, response


async def accept_batch_idempotent(conn: AsyncConnection, org_id: str, items: Sequence[tuple[str, str, str | None]], *,
                                  idempotency_key: str | None = None,
                                  extras: Sequence[dict[str, Any] | Problem | None] | None = None,
                                  status_callbacks: Sequence[str | None] = (),
                                  channel_extras: Sequence[Extras] = ()) -> tuple[int, dict[str, Any]]:
    try:
        return await accept_batch(conn, org_id, items, idempotency_key=idempotency_key, extras=extras,
                                  status_callbacks=status_callbacks, channel_extras=channel_extras)
    except _LostRace:
        # A concurrent request with the same key committed first: ours rolled back; replay theirs.
        assert idempotency_key is not None
        replay = await _replay(conn, org_id, idempotency_key, _batch_hash(items, channel_extras))
        assert replay is not None
        return replay
