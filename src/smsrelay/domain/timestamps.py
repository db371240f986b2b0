"""Instants as the API and events write them: ISO 8601 in UTC with a `Z` (what Twilio and most
clients parse), from a datetime or from the ISO text a JSON column holds."""

from __future__ import annotations

from datetime import datetime, timezone


def iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
