"""What an event says: the body delivered to an org's endpoint and served by GET /v1/events,
made from the "WebhookEvent" row alone (its message snapshot was taken by the trigger), so a
retry, a replay and the feed give the same bytes. And when a failed delivery is tried again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from smsrelay.domain import catalogue
from smsrelay.domain.timestamps import iso as _iso

STATUS = "message.status"
RECEIVED = "message.received"
TEST = "webhook.test"

# Twilio's OptOutType on an inbound message (Advanced Opt-Out): our keyword classes, in its words.
OPT_OUT_TYPES = {"opt_out": "STOP", "opt_in": "START", "help": "HELP"}


def event_id(row_id: int) -> str:
    return f"evt_{row_id}"


def row_id(event_id_: str) -> int | None:
    prefix, _, digits = event_id_.partition("_")
    return int(digits) if prefix == "evt" and digits.isdigit() and len(digits) < 19 else None


def error_of(code: str | None) -> dict[str, Any] | None:
    """Twilio's code with the catalogue's meaning and whether retrying could help."""
    if not code:
        return None
    entry = catalogue.lookup(code) or catalogue.describe_unknown(code)
    return {"code": str(code), "meaning": entry.meaning, "retryable": entry.retryable}


def _message(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: snapshot.get(k) for k in ("id", "direction", "status", "from", "to", "segments", "encoding",
                                        "twilioSid", "errorCode", "errorMessage")}
    if snapshot.get("direction") == "inbound":
        out["body"] = snapshot.get("body")
    out["createdAt"] = _iso(snapshot.get("createdAt"))
    out["updatedAt"] = _iso(snapshot.get("updatedAt"))
    return out


def body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The event as JSON-ready data."""
    snapshot = row["message"] or {}
    data: dict[str, Any]
    if row["type"] == TEST:
        data = {"test": True}
    elif row["type"] == RECEIVED:
        data = {"message": _message(snapshot), "optOutType": OPT_OUT_TYPES.get(snapshot.get("keyword") or "")}
    else:
        data = {"messageId": row["messageId"], "sequence": row["sequence"], "status": row["status"],
                "previousStatus": row["previousStatus"], "error": error_of(snapshot.get("errorCode")),
                "held": snapshot.get("hold") if row["status"] == "held" else None,
                "message": _message(snapshot)}
    return {"id": event_id(row["id"]), "type": row["type"], "orgId": row["orgId"],
            "createdAt": _iso(row["createdAt"]), "data": data}


def encode(row: Mapping[str, Any]) -> bytes:
    return json.dumps(body(row), separators=(",", ":"), sort_keys=True).encode()


def retry_delay(attempts: int, base_seconds: float, max_seconds: float, uniform: Callable[[float, float], float]) -> float:
    """Exponential backoff with jitter after the `attempts`-th failure: base·2^(n-1), capped,
    then drawn from its upper half so endpoints coming back are not hit by every retry at once."""
    ceiling = min(max_seconds, base_seconds * 2 ** max(0, min(attempts - 1, 40)))
    return uniform(ceiling / 2, ceiling)


def gives_up(age_seconds: float, retry_for_seconds: float) -> bool:
    return age_seconds >= retry_for_seconds


def failing(consecutive_failures: int, threshold: int) -> bool:
    return consecutive_failures >= threshold
