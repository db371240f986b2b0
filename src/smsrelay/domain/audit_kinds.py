"""Which "AuditLog" rows are mitigations: what the incident report's timeline lists.

"AuditLog" records every change to settings, whoever makes it (triggers on "OrgSettings" and
"SystemSetting", and rows the service writes itself). Most are not mitigations: an org being
created, a webhook URL or HELP text edited, a number revealed on the dashboard, or a value the
scheduler caches in "SystemSetting" (Twilio's balance every few minutes), which used to read as
"mitigation: SMS update by sql:postgres" in every report. A mitigation is what holds, slows,
restricts or re-sends messages: the runbook's disable, throttle, pause and retry, a guardrail
tightened or loosened, and any row whose action says it holds, releases or undoes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# "SystemSetting" keys that are caches the processes keep, not settings anyone chooses
# (service/operations/metrics.py BALANCE_KEY, service/operations/statsd.py PUSHED_KEY). Migration
# 0019 stops the trigger from auditing them; rows written before it are still recognised here.
CACHE_KEYS = frozenset({"twilio_balance", "statsd_pushed"})

# "OrgSettings" columns whose change affects which of an org's messages go out, and when.
MITIGATION_FIELDS = frozenset({"smsDisabled", "maxMessagesPerMinute", "allowedCountries", "contentPolicy",
                               "landlinePolicy", "dailySendCap"})

# Actions of rows the service writes itself (insert_audit) that act on messages or sending.
MITIGATION_ACTIONS = frozenset({"retry", "hold", "release", "pause", "resume", "disable", "enable", "throttle",
                                "undo"})


def _key(row: Mapping[str, Any]) -> str | None:
    state = row.get("after") or row.get("before") or {}
    return state.get("key")


def is_mitigation(row: Mapping[str, Any]) -> bool:
    """`row` has the columns of "AuditLog" ("tableName", "action", "before", "after")."""
    table, action = row["tableName"], row["action"]
    if table == "OrgSettings":
        if action != "update":
            return False  # created with the org, or deleted with it
        before, after = row.get("before") or {}, row.get("after") or {}
        return any(before.get(k) != after.get(k) for k in MITIGATION_FIELDS)
    if table == "SystemSetting":
        return _key(row) not in CACHE_KEYS
    return action in MITIGATION_ACTIONS
