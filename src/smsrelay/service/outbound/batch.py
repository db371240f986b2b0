"""Accepting a batch of outbound messages (POST /v1/messages:batch) in one transaction.

Each message gets exactly the checks a single send gets (messages.accept), in the same order,
as if the batch's messages were sent one after another: body, recipient, sender, opt-out, the
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
from smsrelay.service.outbound import spend_guard
from smsrelay.service.outbound.channels import senders_for
from smsrelay.service.outbound.messages import (_LostRace, _replay, _request_hash, check_number, insert_with_jobs, opted_out,
                                       check_characters, check_not_own_sender, outbound_row, pick_sender, recipient, replay_or_org,
                                       validate_body)
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.store import sql

MAX_BATCH = 1000


def _error(index: int, problem: Problem) -> dict[str, Any]:
    return {"index": index, **problem.to_dict()}


def _batch_hash(items: Sequence[tuple[str, str, str | None]]) -> str:
    # "batch" keeps a batch's hash apart from any single send's with the same key.
    return _request_hash({"batch": [{"to": to, "body": body, "from": from_} for to, body, from_ in items]})


def check_size(count: int) -> None:
    if count < 1:
        raise problems.BATCH_EMPTY()
    if count > MAX_BATCH:
        raise problems.BATCH_TOO_LARGE(count=count, maxMessages=MAX_BATCH)


async def accept_batch(conn: AsyncConnection, org_id: str, items: Sequence[tuple[str, str, str | None]], *,
                       idempotency_key: str | None = None,
                       extras: Sequence[dict[str, Any] | Problem | None] | None = None,
                       status_callbacks: Sequence[str | None] = ()) -> tuple[int, dict[str, Any]]:
    """items: (to, body, from) per message; extras (optional, by index): metadata to store with
    it (its template) or the Problem that refuses it; status_callbacks (optional, by index): where
    its status events go. Returns (200, {"accepted", "rejected", "results"})."""
    check_size(len(items))
    request_hash = _batch_hash(items) if idempotency_key is not None else ""
    async with conn.transaction():
        replay, org = await replay_or_org(conn, org_id, idempotency_key, request_hash)
        if replay:
            return replay
        region = org["defaultRegion"]
        senders = senders_for(channels.SMS, org["senders"])  # a batch is SMS: never from a WhatsApp sender

        # 1. What needs no database: body, recipient, sender.
        results: list[dict[str, Any] | None] = [None] * len(items)
        valid: list[tuple[int, str, phone.PhoneCheck, dict[str, Any]]] = []
        extra = list(extras) if extras is not None else [None] * len(items)
        chosen: dict[str | None, dict[str, Any] | Problem] = {}
        own = {s["number"] for s in senders}
        for i, (to, body, from_) in enumerate(items):
            try:
                if isinstance(extra[i], Problem):
                    raise extra[i]
                check_characters(to=to, body=body, **{"from": from_})
                validate_body(body)
                check = recipient(to, region, check_number(to, region))
                sender = chosen.get(from_)
                if sender is None:
                    try:
                        sender = pick_sender(senders, from_, region)
                    except Problem as exc:
                        sender = exc
                    chosen[from_] = sender
                if isinstance(sender, Problem):
                    raise sender
                if check.e164 in own:
                    check_not_own_sender(check, senders)  # raises its Problem
            except Problem as exc:
                results[i] = _error(i, exc)
                continue
            valid.append((i, body, check, sender))

        # 2. Opt-outs and earlier recipients of every valid message, one query each.
        phones = list({check.e164 for _, _, check, _ in valid})
        stopped = {r["phone"] for r in await sql.all(conn, "batch_opted_out", org_id=org_id, phones=phones)}
        messaged = {r["to"] for r in await sql.all(conn, "batch_messaged", org_id=org_id, phones=phones)}

        # 3. The org's policies, then the daily cap, message by message in the batch's order.
        remaining = await spend_guard.remaining_today(conn, org) if valid else None
        lints: dict[tuple[str, bool], lint.LintResult] = {}
        rows: list[dict[str, Any]] = []
        accepted = 0
        used = 0  # segments, as the cap counts them
        for i, body, check, sender in valid:
            e164 = check.e164
            assert e164 is not None
            if e164 in stopped:
                results[i] = _error(i, opted_out(e164))
                continue
            first = e164 not in messaged
            content = lints.get((body, first))
            if content is None:
                content = lints[(body, first)] = lint.lint(body, first_message_to_recipient=first)
            verdict = admission.screen(check, content, allowed_countries=org["allowedCountries"],
                                       landline_policy=org["landlinePolicy"], content_policy=org["contentPolicy"])
            if verdict.refusal is not None:
                results[i] = _error(i, problems.refused(verdict.refusal))
                continue
            if remaining is not None and content.segments > remaining - used:
                results[i] = _error(i, spend_guard.cap_reached(org, segments=content.segments,
                                                               remaining=remaining - used))
                continue
            findings = verdict.findings_dicts()
            message_id = ids.new_id("msg")
            rows.append(outbound_row(message_id, sender, check, body, content.segments, content.encoding, findings,
                                     extra[i], status_callbacks[i] if status_callbacks else None))
            messaged.add(e164)
            accepted += 1
            used += content.segments
            results[i] = {"index": i, "id": message_id, "status": "queued", "segments": content.segments,
                          "encoding": content.encoding, "to": e164, "from": sender["number"], "findings": findings,
                          "channel": channels.SMS}

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
                                  status_callbacks: Sequence[str | None] = ()) -> tuple[int, dict[str, Any]]:
    try:
        return await accept_batch(conn, org_id, items, idempotency_key=idempotency_key, extras=extras,
                                  status_callbacks=status_callbacks)
    except _LostRace:
        # A concurrent request with the same key committed first: ours rolled back; replay theirs.
        assert idempotency_key is not None
        replay = await _replay(conn, org_id, idempotency_key, _batch_hash(items))
        assert replay is not None
        return replay
