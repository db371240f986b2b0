"""What may stop a send before it reaches Twilio.

A guard either holds a message (it stays queued and goes out when the guard lifts) or refuses
it (it can never be sent, e.g. the recipient opted out). Guards read PostgreSQL on every send,
so the runbook's UPDATE on "OrgSettings" takes effect on the next message, in every process.

Holds, by reason (kept in "metadata"->'hold'->>'reason'):
- kill_switch: FEATURE_SMS_ENABLED=false in the worker's environment (the runbook's "set and
  restart"); released by workers started with it true.
- paused: the runtime kill switch (`smsrelay sms pause`, mitigations.pause), a "SystemSetting"
  row every process reads, so it needs no restart.
- org_disabled: the runbook's `UPDATE "OrgSettings" SET "smsDisabled" = true`.
- rate_zero: "maxMessagesPerMinute" set to 0 or less, which can only mean "send nothing".
The rate limit itself (service/outbound/throttle.py) defers rather than holds. Dispatch holds
a message as unknown_outcome when nobody can say whether Twilio has it; no guard lifting
releases that one (a callback or reconciliation settles it).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.service.outbound import throttle
from smsrelay.settings import Settings
from smsrelay.store import sql

# The runtime kill switch's "SystemSetting" row; service/tenancy/mitigations.py sets it.
KILL_SWITCH_KEY = "sms_paused"


async def paused(conn: AsyncConnection) -> dict[str, Any] | None:
    row = await sql.one(conn, "get_system_setting", key=KILL_SWITCH_KEY)
    value = row["value"] if row else None
    return value if value and value.get("paused") else None


async def hold_reason(conn: AsyncConnection, settings: Settings, org: dict[str, Any], row: dict[str, Any]) -> str | None:
    if not settings.feature_sms_enabled:
        return "kill_switch"
    if await paused(conn):
        return "paused"
    if org["smsDisabled"]:
        return "org_disabled"
    if org["maxMessagesPerMinute"] is not None and org["maxMessagesPerMinute"] <= 0:
        return "rate_zero"
    return None


async def refusal(conn: AsyncConnection, org: dict[str, Any], row: dict[str, Any]) -> tuple[int, str] | None:
    if await sql.one(conn, "is_opted_out", org_id=org["id"], phone=row["to"]):
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
