"""The autopilot's answer to SMS pumping: hold one org's messages to the countries its burst of
never-seen numbers goes to (an "AutopilotAction" hold of scope org_country, "<orgId>:<country>",
which dispatch's send_facts looks up), while the rest of its traffic flows on.

Unlike the failure causes there is nothing to verify: pumped messages are delivered, just paid
for. So the hold is not followed to a release; it stays until a person undoes it (`smsrelay
autopilot undo`), who has found the form or key that was abused. Each (org, country) is held once.
"""

from __future__ import annotations

from datetime import timedelta

from smsrelay.domain import autopilot as rules
from smsrelay.service.operations import autopilot_actions as actions
from smsrelay.service.operations.autopilot_notify import announce
from smsrelay.service.runtime import Runtime
from smsrelay.service.spend import pumping
from smsrelay.store import sql

CAUSE = "sms_pumping"


async def act(rt: Runtime, switch: rules.Switch) -> str:
    window = timedelta(seconds=max(rt.settings.autopilot_window_seconds, rt.settings.alert_pumping_window_seconds))
    async with rt.pool.connection() as conn:
        now = (await sql.one(conn, "database_now"))["now"]
        signals = await pumping.signals(conn, now - window, now)
        held = {(a["scopeKind"], a["scopeValue"]) for a in await sql.all(conn, "autopilot_open_actions")
                if a["cause"] == CAUSE and a["endedAt"] is None and (switch.dry_run or not a["dryRun"])}
    done = []
    for s in signals:
        for country in s.countries:
            scope = rules.Scope("org_country", f"{s.org_id}:{country}", s.org_id)
            if (scope.kind, scope.value) in held:
                continue
            plan = rules.Plan(CAUSE, "hold", scope, False, f"SMS pumping suspected: {'; '.join(s.describe())}")
            row = await actions.apply(rt, plan, dry_run=switch.dry_run, details={
                "orgs": [s.org_id], "countries": [country], "reasons": list(s.reasons),
                "newNumbers": s.now.new_numbers, "needsAPerson": rules.NEEDS_A_PERSON[CAUSE]})
            verb = "would " + plan.describe() if switch.dry_run else plan.describe()
            await announce(rt, row, "applied", f"{verb} ({CAUSE}); still needs a person: {rules.NEEDS_A_PERSON[CAUSE]}")
            done.append(("dry-run: " if switch.dry_run else "applied: ") + plan.describe())
    return "; ".join(done) or "nothing to hold"
