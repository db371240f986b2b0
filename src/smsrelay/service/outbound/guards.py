"""What may stop a send before it reaches Twilio.

A guard either holds a message (it stays queued and goes out when the guard lifts) or refuses
it (it can never be sent, e.g. the recipient opted out). Every send reads the facts they decide
on afresh from PostgreSQL (dispatch's one `send_facts` query), so the runbook's UPDATE on
"OrgSettings" takes effect on the next message, in every process; the decisions themselves are
pure functions of those facts.

Holds, by reason (kept in "metadata"->'hold'->>'reason'):
- kill_switch: FEATURE_SMS_ENABLED=false in the worker's environment (the runbook's "set and
  restart"); released by workers started with it true.
- paused: the runtime kill switch (`smsrelay sms pause`, mitigations.pause), a "SystemSetting"
  row every process reads, so it needs no restart.
- org_disabled: the runbook's `UPDATE "OrgSettings" SET "smsDisabled" = true` (SMS; an MMS is
  held by "mmsDisabled", a WhatsApp message by "whatsappDisabled").
- rate_zero: "maxMessagesPerMinute" set to 0 or less, which can only mean "send nothing".
- template_disabled: the message's template is disabled (service/templates/hold.py).
- spend_cap, price_ceiling: the org's spend policy (service/spend/caps.py, decided under the
  row lock after these); released by caps.release_spend_holds, not the release loop.
- autopilot: a live "AutopilotAction" hold of the message's sender, destination country or
  template; the autopilot releases it itself once the cause has cleared.
The rate limit itself (service/outbound/throttle.py) defers rather than holds. Dispatch holds
a message as unknown_outcome when nobody can say whether Twilio has it; no guard lifting
releases that one (a callback or reconciliation settles it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import channels
from smsrelay.service.outbound import throttle
from smsrelay.settings import Settings
from smsrelay.store import sql

# The runtime kill switch's "SystemSetting" row; service/tenancy/mitigations.py sets it.
KILL_SWITCH_KEY = "sms_paused"


def pause_of(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The kill switch's "SystemSetting" value when it is on."""
    return value if value and value.get("paused") else None


async def paused(conn: AsyncConnection) -> dict[str, Any] | None:
    row = await sql.one(conn, "get_system_setting", key=KILL_SWITCH_KEY)
    return pause_of(row["value"] if row else None)


def hold_reason(settings: Settings, facts: dict[str, Any]) -> str | None:
    """Why the message must wait, from a `send_facts` row; None when nothing holds it."""
    if not settings.feature_sms_enabled:
        return "kill_switch"
    # The autopilot's probe: one held message it lets through its own pause or org hold to see
    # whether the cause has cleared (service/operations/autopilot_recovery.py).
    probe = bool((facts.get("metadata") or {}).get("autopilotProbe"))
    if pause_of(facts["pause"]) and not (probe and facts["pause"].get("by") == "autopilot"):
        return "paused"
    if facts[channels.DISABLED_COLUMN.get(facts.get("channel") or channels.SMS, "smsDisabled")] and not probe:
        return "org_disabled"
    if facts.get("autopilotHold"):
        return "autopilot"
    if facts["maxMessagesPerMinute"] is not None and facts["maxMessagesPerMinute"] <= 0:
        return "rate_zero"
    if facts.get("templateDisabled"):
        return "template_disabled"
    return None


def expired(facts: dict[str, Any], now: datetime) -> bool:
    """Past its org's validity period (Twilio's own queue limit): the message is never sent."""
    # A scheduled message's validity starts at its sendAt: it was held by us, not queued, until then.
    return (now - (facts.get("sendAt") or facts["createdAt"])).total_seconds() > facts["validityPeriodSeconds"]


def plain(settings: Settings, facts: dict[str, Any], now: datetime) -> bool:
    """Nothing but the send itself is left to decide: unsent, within its validity, nothing holds
    or refuses it, its org has no rate limit and it holds no reservation. Such a send takes no
    row lock; what it read is proven by the statement that marks it in flight."""
    return (facts["status"] == "queued" and not facts["twilioSid"] and not facts["planned"]
            and facts["maxMessagesPerMinute"] is None and not expired(facts, now)
            and hold_reason(settings, facts) is None and refusal(facts) is None and not facts.get("spendPolicy"))


def refusal(facts: dict[str, Any]) -> tuple[int, str] | None:
    """Why the message can never be sent, from a `send_facts` row; None when nothing refuses it."""
    if facts["optedOut"]:
        return 21610, "Attempt to send to unsubscribed recipient (opted out after the message was accepted)"
    return None


async def status(conn: AsyncConnection, settings: Settings) -> dict[str, Any]:
    """Every guard that is on, and what it holds. The environment switch is this process's view:
    a worker started with FEATURE_SMS_ENABLED=false shows up as 'kill_switch' holds."""
    pause_row = await sql.one(conn, "get_system_setting", key=KILL_SWITCH_KEY)
    pause_value = pause_row["value"] if pause_row else {"paused": False}
    held = {r["reason"]: r["count"] for r in await sql.all(conn, "held_counts")}
    orgs = await sql.all(conn, "guarded_orgs")
    waiting = await throttle.throttled_orgs(conn)
    return {
        "featureSmsEnabled": settings.feature_sms_enabled,
        "paused": bool(pause_value.get("paused")),
        "pause": pause_value,
        "held": held,
        "heldTotal": sum(held.values()),
        "disabledOrgs": [o["orgId"] for o in orgs if o["smsDisabled"]],
        "throttledOrgs": [{"orgId": o["orgId"], "perMinute": o["maxMessagesPerMinute"],
                           "waiting": next((w["waiting"] for w in waiting if w["orgId"] == o["orgId"]), 0)}
                          for o in orgs if o["maxMessagesPerMinute"] is not None],
        "throttledTotal": sum(w["waiting"] for w in waiting),
    }
