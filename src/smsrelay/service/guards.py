"""What may stop a send before it reaches Twilio.

A guard either holds a message (it stays queued and goes out when the guard lifts) or refuses
it (it can never be sent, e.g. the recipient opted out). Guards read PostgreSQL on every send,
so the runbook's UPDATE on "OrgSettings" takes effect on the next message, in every process.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.settings import Settings
from smsrelay.store import sql

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
    return None


async def refusal(conn: AsyncConnection, org: dict[str, Any], row: dict[str, Any]) -> tuple[int, str] | None:
    if await sql.one(conn, "is_opted_out", org_id=org["id"], phone=row["to"]):
        return 21610, "Attempt to send to unsubscribed recipient (opted out after the message was accepted)"
    return None
