"""The autopilot's announcements, in the alerts' own notification channels (notify.py: Slack,
PagerDuty, webhook): each is shaped as an alert of rule "autopilot", so whoever reads the alerts
reads what the autopilot did, why, and the one command that undoes it. A dry run says the same
with "[dry run] would". Best effort: a channel that fails is logged, never retried at the
expense of the mitigation itself."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import httpx

from smsrelay import notify
from smsrelay.service.runtime import Runtime

log = logging.getLogger(__name__)

SEVERITY = {"applied": "warning", "widened": "warning", "reverted": "error", "skipped": "warning",
            "probe": "info", "released": "info", "closed": "info", "undone": "info"}


def announcement(action: dict[str, Any], event: str, text: str) -> dict[str, Any]:
    """An alert-shaped record of one autopilot event (what notify.py formats)."""
    dry = " [dry run]" if action.get("dryRun") else ""
    return {
        "id": action.get("id") or "autopilot", "key": f"autopilot:{action.get('id') or action.get('cause')}:{event}",
        "rule": "autopilot", "title": f"Autopilot{dry}: {text}"[:200], "severity": SEVERITY.get(event, "info"),
        "orgId": action.get("orgId"),
        "summary": f"{text}. Why: {action.get('reason') or '-'}"
                   + (f" Undo: `smsrelay autopilot undo {action['id']}`" if action.get("id") and not dry
                      and event in ("applied", "widened") else ""),
        "details": {"cause": action.get("cause"), "event": event, "action": action.get("id"),
                    "kind": action.get("kind"), "scope": action.get("scopeKind"), "value": action.get("scopeValue"),
                    "dryRun": bool(action.get("dryRun")), "windowSeconds": 900},
        "state": "firing", "firedAt": datetime.now(timezone.utc), "resolvedAt": None,
    }


async def announce(rt: Runtime, action: dict[str, Any], event: str, text: str) -> list[tuple[str, bool]]:
    alert = announcement(action, event, text)
    log.warning("autopilot: %s", alert["title"])
    results = []
    chans = notify.channels(rt.settings)
    if not chans:
        return results
    async with httpx.AsyncClient(timeout=5.0) as client:
        for channel in chans:
            try:
                await notify.send(client, rt.settings, channel, alert, "fired")
                results.append((channel, True))
            except httpx.HTTPError as exc:
                log.warning("autopilot announcement on %s failed: %s", channel, exc)
                results.append((channel, False))
    return results
