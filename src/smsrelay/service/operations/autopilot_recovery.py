"""After the autopilot acted: did it help, has the cause cleared, and closing the incident.

An action moves active → holding (the failures stopped growing) → probing (Twilio's own checks
passed and one held message went out as a probe) → released (the probe was delivered: the
holds are lifted, each held message goes out once and the cause's failures are retried once
each) → closed (quiet for `AUTOPILOT_CLOSE_SECONDS`: the post-incident report is written). A
mitigation that did not help is replaced by the next wider scope once (widened) or undone
(reverted); a failed probe goes back to holding.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from smsrelay.domain import autopilot as rules
from smsrelay.service import jobs
from smsrelay.service.operations import autopilot_actions as actions
from smsrelay.service.operations.autopilot_notify import announce
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0
# How long a probe may stay unsettled before the autopilot tries another.
PROBE_TIMEOUT_SECONDS = 300.0


def _seconds(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds()


async def follow(rt: Runtime, action: dict[str, Any], signal: rules.Signal | None, now: datetime) -> str:
    """One step of one open action; returns what happened."""
    s = rt.settings
    live = signal is not None and signal.live(now, _rules(rt))
    state = action["state"]
    if state == "dry_run":
        if not live:
            async with rt.pool.connection() as conn:
                await actions.update(conn, action["id"], "dry_run_ended", end=True,
                                     reason="dry run: the cause cleared")
            return "dry-run-ended"
        return "dry-run"
    if state == "active" and _seconds(action["createdAt"], now) >= s.autopilot_verify_seconds:
        return await _verify(rt, action, signal, now)
    if state == "holding" and _seconds(action["updatedAt"], now) >= s.autopilot_probe_seconds:
        # A throttle holds nothing back: quiet since it was found to help is the all-clear.
        since = action["updatedAt"] if action["kind"] == "throttle" else action["createdAt"]
        return await _probe(rt, action, live and not _quiet_since(signal, since))
    if state == "probing":
        return await _check_probe(rt, action, now)
    if state == "released" and action["endedAt"] is not None and _quiet_since(signal, action["endedAt"]) \
            and _seconds(action["endedAt"], now) >= s.autopilot_close_seconds:
        return await _close(rt, action, now)
    return "waiting"


def _quiet_since(signal: rules.Signal | None, since: datetime) -> bool:
    """No failure of the cause since `since` (the action, or its release)."""
    return signal is None or signal.last_seen is None or signal.last_seen <= since


def _rules(rt: Runtime) -> rules.Rules:
    from smsrelay.service.operations.autopilot_config import rules_of

    return rules_of(rt.settings)


async def _verify(rt: Runtime, action: dict[str, Any], signal: rules.Signal | None, now: datetime) -> str:
    codes = (action["details"] or {}).get("codes") or []
    async with rt.pool.connection() as conn:
        new = (await sql.one(conn, "autopilot_new_failures", codes=codes, after=action["createdAt"]))["n"]
    r = _rules(rt)
    if rules.helped(new, r):
        async with rt.pool.connection() as conn:
            await actions.update(conn, action["id"], "holding", details={"newFailures": new},
                                 reason=f"failures stopped: {new} new after the mitigation")
        return "holding"
    text = f"{action['details'].get('plan')} did not stop the failures ({new} new since)"
    if signal is not None and rules.can_widen(action["cause"], action["scopeKind"], action["widened"]):
        start = rules.LADDERS[action["cause"]].index(action["scopeKind"]) + 1
        found = rules.narrowest(signal, r, start)
        if found is not None:
            scope, _ = found
            plan = rules.Plan(action["cause"], rules.kind_of(scope, action["cause"]), scope, True,
                              f"widened: {text}"[:480], per_minute=r.throttle_per_minute
                              if rules.kind_of(scope, action["cause"]) == "throttle" else None)
            # The wider hold first, so what the narrow one held is never let out in between.
            wider = await actions.apply(rt, plan, dry_run=False, details={**action["details"], "widenedFrom": action["id"]})
            await actions.lift(rt, action, "widened", reason=f"widened to {wider['id']}", details={"newFailures": new})
            await announce(rt, wider, "widened", f"widened: {plan.describe()} ({text})")
            return "widened"
    await actions.lift(rt, action, "reverted", reason=text, details={"newFailures": new})
    await announce(rt, action, "reverted", f"undid: {text}; needs a person: {rules.NEEDS_A_PERSON[action['cause']]}")
    return "reverted"


async def _twilio_says_cleared(rt: Runtime, action: dict[str, Any]) -> str | None:
    """Twilio's account and number checks for the causes they speak to; None when they pass."""
    from smsrelay.twilio.errors import TwilioError

    try:
        if action["cause"] == "account":
            balance, account = await asyncio.wait_for(
                asyncio.gather(rt.gateway.balance(), rt.gateway.account()), CHECK_SECONDS)
            if account["status"] != "active":
                return f"account status '{account['status']}'"
            if float(balance["balance"]) <= 0:
                return f"balance {balance['balance']}"
        elif action["cause"] == "sender_number" and action["scopeKind"] == "sender":
            found = await asyncio.wait_for(rt.gateway.numbers(action["scopeValue"]), CHECK_SECONDS)
            match = next((n for n in found if n["phone_number"] == action["scopeValue"]), None)
            if match is None or match["status"] not in (None, "in-use") \
                    or not (match["capabilities"] or {}).get("sms", True):
                return f"number {action['scopeValue']} still not usable"
    except (asyncio.TimeoutError, TwilioError) as exc:
        return f"Twilio check failed: {exc}"
    return None


async def _probe(rt: Runtime, action: dict[str, Any], live: bool) -> str:
    if action["kind"] == "throttle":
        # A throttle holds nothing: the cause has cleared once no failure of it is live and the
        # throttle has let out every message that was refused for the rate (lifted earlier, it
        # would let that backlog out at once, which is what tripped the limit).
        if live:
            return "holding"
        details = action["details"] or {}
        async with rt.pool.connection() as conn:
            waiting = (await sql.one(conn, "autopilot_still_retrying", org_id=action["scopeValue"],
                                     codes=details.get("codes") or [],
                                     since=details.get("onset") or action["createdAt"]))["n"]
        if waiting:
            return "holding"
        return await _release(rt, action, "no rate-limit failure within the live window")
    why = await _twilio_says_cleared(rt, action)
    if why is not None:
        async with rt.pool.connection() as conn:
            await actions.update(conn, action["id"], "holding", details={"lastCheck": why}, reason=f"still failing: {why}")
        return "still-failing"
    async with rt.pool.connection() as conn, conn.transaction():
        row = await sql.one(conn, "autopilot_probe_candidate", reason=actions.HOLD_REASON[action["kind"]],
                            scope_kind=action["scopeKind"], scope_value=action["scopeValue"])
        if row is not None:
            await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"hold": None, "autopilotProbe": action["id"]})
            await jobs.enqueue_send(conn, row["id"])
    if row is None:
        return await _release(rt, action, "nothing held to probe with; Twilio's checks pass") if not live else "holding"
    async with rt.pool.connection() as conn:
        updated = await actions.update(conn, action["id"], "probing", probe=row["id"],
                                       details={"probeAt": datetime.now().astimezone().isoformat()},
                                       reason=f"probe: one held message ({row['id']})")
    await announce(rt, updated, "probe", f"probing {action['details'].get('plan')} with one held message {row['id']}")
    return "probing"


async def _check_probe(rt: Runtime, action: dict[str, Any], now: datetime) -> str:
    async with rt.pool.connection() as conn:
        row = await sql.one(conn, "autopilot_probe_status", id=action["probeMessageId"])
    status = row["status"] if row else None
    if status == "delivered":
        return await _release(rt, action, f"probe {action['probeMessageId']} delivered")
    failed = status in ("failed", "undelivered") or (status == "queued" and row["last_code"] is not None)
    if failed or _seconds(action["updatedAt"], now) > PROBE_TIMEOUT_SECONDS:
        why = f"probe {action['probeMessageId']} {status}" + (f" ({row['code'] or row['last_code']})" if failed else "")
        async with rt.pool.connection() as conn:
            await actions.update(conn, action["id"], "holding", details={"lastProbe": why}, reason=why)
        return "probe-failed"
    return "probing"


async def _release(rt: Runtime, action: dict[str, Any], why: str) -> str:
    """The cause has cleared: lift the mitigation (each held message goes out once), then retry
    the cause's failures of the incident once each."""
    released = await actions.lift(rt, action, "released", reason=f"cause cleared: {why}")
    retried = await _retry_failures(rt, action)
    async with rt.pool.connection() as conn:
        await actions.update(conn, action["id"], "released", details={"retried": retried, "clearedBecause": why})
    await announce(rt, released, "released", f"released {action['details'].get('plan')}: {why}; "
                                             f"{retried} failed message(s) retried once")
    return "released"


async def _retry_failures(rt: Runtime, action: dict[str, Any]) -> int:
    from smsrelay.service.outbound import retry

    details = action["details"] or {}
    codes = [c for c in details.get("codes") or [] if c.isdigit()]
    if not codes:
        return 0
    onset = datetime.fromisoformat(details["onset"]) if details.get("onset") else action["createdAt"]
    since = f"{max(60, int((datetime.now(onset.tzinfo) - onset).total_seconds()) + 300)}s"
    if action["orgId"]:
        orgs = [action["orgId"]]
    elif action["scopeKind"] == "all":
        # Every org's: the details' orgs are what the decision had seen, and a send in flight at
        # the pause can fail for an org not among them.
        orgs = [None]
    else:
        orgs = list(details.get("orgs") or [None])
    total = 0
    for org in orgs:
        p = await retry.plan(rt, since=since, org_id=org, codes=codes, force=True)
        # Once each: only what no retry has touched yet, in the scope the action held.
        p.eligible = [r for r in p.eligible if r["generation"] == 0 and _in_scope(action, r)]
        done = await retry.execute(rt, p, actor=rules.ACTOR)
        total += sum(1 for d in done if d.retry)
    return total


def _in_scope(action: dict[str, Any], row: dict[str, Any]) -> bool:
    if action["scopeKind"] == "sender":
        return row["from"] == action["scopeValue"]
    return True


async def _close(rt: Runtime, action: dict[str, Any], now: datetime) -> str:
    from smsrelay.service.operations import report

    onset = (action["details"] or {}).get("onset")
    start = datetime.fromisoformat(onset) if onset else action["createdAt"]
    since = f"{max(300, int(_seconds(start - timedelta(minutes=5), now)))}s"
    text = await report.build(rt, since)
    async with rt.pool.connection() as conn:
        closed = await actions.update(conn, action["id"], "closed", details={"report": text},
                                      reason="incident closed: report written")
    await announce(rt, closed, "closed", f"incident closed ({action['cause']}); report: "
                                         f"`smsrelay autopilot report {action['id']}`")
    return "closed"
