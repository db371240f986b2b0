"""The incident autopilot: a scheduler duty (processes/scheduler.py, one leader) that applies the
runbook's mitigation to a cause an operator switched it on for, then follows it to the end.

Each run: follow every open action (autopilot_recovery.py), then, for each live cause, ask the
rules (domain/autopilot.py) whether and at which scope to act, apply it (autopilot_actions.py)
and announce it (autopilot_notify.py). A dry run records and announces what it would have done
and changes nothing else. `status` is what the CLI, the admin API and the dashboard show.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from smsrelay.domain import autopilot as rules
from smsrelay.service import problems
from smsrelay.service.operations import autopilot_actions as actions
from smsrelay.service.operations import autopilot_config as config
from smsrelay.service.operations import autopilot_pumping as pumping_hold
from smsrelay.service.operations import autopilot_recovery as recovery
from smsrelay.service.operations import autopilot_signals as signals
from smsrelay.service.operations.autopilot_notify import announce
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

log = logging.getLogger(__name__)


async def _history(conn: Any, cause: str, since: datetime) -> tuple[rules.Past, ...]:
    rows = await sql.all(conn, "autopilot_cause_history", cause=cause, since=since)
    return tuple(rules.Past(r["scopeKind"], r["widened"], r["state"], r["endedBy"], r["endedAt"]) for r in rows if not r["dryRun"])


async def autopilot_duty(rt: Runtime) -> dict[str, Any]:
    """One round: returns what it did, by cause and by action."""
    async with rt.pool.connection() as conn:
        switches = await config.switches(conn)
        open_rows = await sql.all(conn, "autopilot_open_actions")
    if not open_rows and not any(s.enabled for s in switches.values()):
        return {"enabled": []}
    now, found = await signals.live_causes(rt)
    by_cause = {s.cause: s for s in found}
    followed = {}
    for action in open_rows:
        if action["cause"] == pumping_hold.CAUSE:
            continue  # not followed to a release: a person lifts a pumping hold
        try:
            followed[action["id"]] = await recovery.follow(rt, action, by_cause.get(action["cause"]), now)
        except problems.Problem as exc:  # a person undid it while this round followed it
            followed[action["id"]] = exc.message
        except Exception:  # noqa: BLE001 - one action's failure must not stop the others'
            log.exception("autopilot: following %s failed", action["id"])
            followed[action["id"]] = "error"
    r = config.rules_of(rt.settings)
    decided: dict[str, str] = {}
    for signal in found:
        switch = switches[signal.cause]
        if not switch.enabled or signal.cause == pumping_hold.CAUSE:
            continue
        decided[signal.cause] = await _decide_one(rt, signal, switch, r, now)
    if switches[pumping_hold.CAUSE].enabled:
        decided[pumping_hold.CAUSE] = await pumping_hold.act(rt, switches[pumping_hold.CAUSE])
    return {"enabled": [c for c, s in switches.items() if s.enabled], "followed": followed, "decided": decided}


async def _decide_one(rt: Runtime, signal: rules.Signal, switch: rules.Switch, r: rules.Rules, now: datetime) -> str:
    async with rt.pool.connection() as conn:
        # A dry run's record does not stand in the way once a person switches to the real thing.
        open_rows = [a for a in await sql.all(conn, "autopilot_open_actions")
                     if a["cause"] == signal.cause and a["endedAt"] is None and (switch.dry_run or not a["dryRun"])]
        since = max(filter(None, (signal.first_seen, switch.since)), default=now)
        past = await _history(conn, signal.cause, since)
        last_hour = (await sql.one(conn, "autopilot_actions_last_hour"))["n"]
    decision = rules.decide(signal, switch, r, now, open_action=bool(open_rows), past=past, actions_last_hour=last_hour)
    if isinstance(decision, rules.Skip):
        if decision.announce:
            await _announce_skip_once(rt, signal, switch, decision)
        return f"skip: {decision.why}"
    async with rt.pool.connection() as conn:
        why = await actions.in_force(conn, decision)
    if why is not None:
        return f"skip: {why}"
    details = {"codes": list(signal.codes), "orgs": sorted(signal.by_org), "onset": signal.first_seen.isoformat(),
               "confidence": round(signal.confidence, 2), "failures": signal.count,
               "needsAPerson": rules.NEEDS_A_PERSON[signal.cause]}
    row = await actions.apply(rt, decision, dry_run=switch.dry_run, details=details)
    verb = "would " + decision.describe() if switch.dry_run else decision.describe()
    await announce(rt, row, "applied", f"{verb} ({signal.cause}); still needs a person: "
                                       f"{rules.NEEDS_A_PERSON[signal.cause]}")
    return ("dry-run: " if switch.dry_run else "applied: ") + decision.describe()


async def _announce_skip_once(rt: Runtime, signal: rules.Signal, switch: rules.Switch, skip: rules.Skip) -> None:
    # Once per cause, reason and onset in this process: the duty runs every tick.
    key = (signal.cause, skip.why, signal.first_seen)
    told = rt.extras.setdefault("autopilot_told", set())
    if key in told:
        return
    told.add(key)
    await announce(rt, {"cause": signal.cause, "dryRun": switch.dry_run, "reason": signal.summary}, "skipped",
                   f"not acting on {signal.cause}: {skip.why}")


async def status(rt: Runtime, *, hours: float = 24.0, limit: int = 50) -> dict[str, Any]:
    async with rt.pool.connection() as conn:
        switches = await config.switches(conn)
        recent = await sql.all(conn, "autopilot_recent_actions", seconds=hours * 3600, limit=limit)
        held = {a["id"]: await actions.held_count(conn, a) for a in recent if a["endedAt"] is None}
    out = []
    for a in recent:
        item = actions.present(a)
        item.pop("report")
        item["held"] = held.get(a["id"], 0)
        out.append(item)
    return {"causes": config.present(switches), "actions": out,
            "settings": {"minConfidence": rt.settings.autopilot_min_confidence,
                         "confirmSeconds": rt.settings.autopilot_confirm_seconds,
                         "maxActionsPerHour": rt.settings.autopilot_max_actions_per_hour}}


async def report(rt: Runtime, action_id: str) -> dict[str, Any]:
    async with rt.pool.connection() as conn:
        row = await sql.one(conn, "autopilot_action", id=action_id)
    if row is None:
        raise problems.AUTOPILOT_ACTION_NOT_FOUND(action_id=action_id)
    return actions.present(row)
