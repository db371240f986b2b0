"""The autopilot's switches, one per cause, off by default: a "SystemSetting" row every process
reads, changed through service/audit.py so "AuditLog" names who switched what and why."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import autopilot as rules
from smsrelay.service import audit, problems
from smsrelay.settings import Settings
from smsrelay.store import sql

KEY = "autopilot"


def rules_of(settings: Settings) -> rules.Rules:
    return rules.Rules(
        min_confidence=settings.autopilot_min_confidence, confirm_seconds=settings.autopilot_confirm_seconds,
        live_seconds=settings.autopilot_live_seconds, max_actions_per_hour=settings.autopilot_max_actions_per_hour,
        contain_share=settings.autopilot_contain_share, throttle_per_minute=settings.autopilot_throttle_per_minute,
        verify_seconds=settings.autopilot_verify_seconds)


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


async def switches(conn: AsyncConnection) -> dict[str, rules.Switch]:
    row = await sql.one(conn, "get_system_setting", key=KEY)
    stored = (row["value"] if row else {}).get("causes") or {}
    out = {}
    for cause in rules.CAUSES:
        s = stored.get(cause) or {}
        out[cause] = rules.Switch(bool(s.get("enabled")), bool(s.get("dryRun")), _parse(s.get("since")))
    return out


def check_causes(causes: list[str] | None) -> list[str]:
    """The causes named (all of them when none is), each one the autopilot handles."""
    if not causes:
        return list(rules.CAUSES)
    for cause in causes:
        if cause not in rules.LADDERS:
            raise problems.UNKNOWN_AUTOPILOT_CAUSE(cause=cause, causes=", ".join(rules.CAUSES))
    return list(dict.fromkeys(causes))


def present(switch: dict[str, rules.Switch]) -> list[dict[str, Any]]:
    return [{"cause": cause, "enabled": s.enabled, "dryRun": s.dry_run,
             "since": s.since.isoformat() if s.since else None, "scopes": list(rules.LADDERS[cause]),
             "needsAPerson": rules.NEEDS_A_PERSON[cause]} for cause, s in switch.items()]


async def set_enabled(conn: AsyncConnection, causes: list[str] | None, enabled: bool, *, dry_run: bool = False,
                      actor: str, reason: str | None = None) -> list[dict[str, Any]]:
    """Switch the autopilot on (for real, or in a dry run) or off for the causes named. Switching
    a cause again is a person's word: it lets the autopilot widen once more after it stopped."""
    names = check_causes(causes)
    verb = ("enable" + (" --dry-run" if dry_run else "")) if enabled else "disable"
    async with audit.change(conn, actor=actor, reason=reason, default_reason=f"autopilot {verb} {' '.join(names)}"):
        row = await sql.one(conn, "get_system_setting", key=KEY)
        value = dict(row["value"]) if row else {}
        stored = dict(value.get("causes") or {})
        now = datetime.now(timezone.utc).isoformat()
        for cause in names:
            stored[cause] = {"enabled": enabled, "dryRun": bool(enabled and dry_run), "since": now, "by": actor}
        await sql.execute(conn, "put_system_setting", key=KEY, value={**value, "causes": stored})
    return present(await switches(conn))
