"""An org's guardrail policies in "OrgSettings": content and landline policy, allowed countries,
default region, HELP text and how long a held message stays valid.

Disabling and throttling an org are mitigations (service/tenancy/mitigations.py). Every change here is
recorded in "AuditLog" by the "OrgSettings" trigger, with the actor and reason service/audit.py names.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import admission
from smsrelay.service import audit, problems
from smsrelay.store import sql

MAX_HELP_TEXT = 640
# A held message waits in our queue, then at most 10 hours more in Twilio's (ValidityPeriod).
MAX_VALIDITY_SECONDS = 3 * 24 * 3600


def _present(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["updatedAt"] = row["updatedAt"].isoformat() if row.get("updatedAt") else None
    return out


async def get(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    row = await sql.one(conn, "get_org_policy", org_id=org_id)
    if row is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return _present(row)


def validate(changes: dict[str, Any]) -> dict[str, Any]:
    """Checked, normalised changes keyed by column name; raises a 422 Problem."""
    clean: dict[str, Any] = {}
    try:
        for key, value in changes.items():
            if key in ("contentPolicy", "landlinePolicy"):
                clean[key] = admission.policy(value, key)
            elif key == "defaultRegion":
                clean[key] = admission.region(value)
            elif key == "allowedCountries":
                clean[key] = admission.countries(value)
            elif key == "helpText":
                text = (value or "").strip() or None
                if text and len(text) > MAX_HELP_TEXT:
                    raise ValueError(f"helpText must be at most {MAX_HELP_TEXT} characters")
                clean[key] = text
            elif key == "validityPeriodSeconds":
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_VALIDITY_SECONDS:
                    raise ValueError(f"validityPeriodSeconds must be a whole number from 1 to {MAX_VALIDITY_SECONDS}")
                clean[key] = value
            elif key == "dailySendCap":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                    raise ValueError("dailySendCap must be a positive whole number, or null for no cap")
                clean[key] = value
            else:
                raise ValueError(f"{key!r} is not a policy setting")
    except ValueError as exc:
        raise problems.INVALID_POLICY(message=str(exc)) from None
    return clean


async def update(conn: AsyncConnection, org_id: str, changes: dict[str, Any], *, actor: str,
                 reason: str | None = None) -> dict[str, Any]:
    clean = validate(changes)
    # A bad reason is refused even when nothing changes, as every audited write refuses it.
    reason = audit.clean_reason(reason)
    if not clean:
        return await get(conn, org_id)
    async with audit.change(conn, actor=actor, reason=reason, default_reason="policy: " + ", ".join(sorted(clean))):
        row = await sql.one(conn, "update_org_policy", org_id=org_id, changes=clean)
    if row is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return _present(row)
