"""What the message resource says beyond its columns: what its error means, why it is waiting,
and how operator retries link it to other messages. Pure: it reads a row's status and metadata.

* `error`: Twilio's code and text as stored, with the catalogue's meaning, what to do and
  whether a retry can succeed (an uncatalogued code is never called retryable).
* `waiting`: set only while the message is ours and unsent (status queued), saying why:
  - "held": a guard holds it (kill_switch, paused, org_disabled, rate_zero) or its outcome at
    Twilio is unknown (unknown_outcome) until an operator or a check settles it;
  - "throttled": over its org's rate, it waits for a send slot (`until`);
  - "twilio_retry": Twilio failed or was unreachable and the send is retried at `until`
    (an outage looks like this);
  None otherwise: queued and simply waiting its turn for a worker.
* `lineage`: `retryOf` (the message an operator's retry re-sent) and `retriedAs` (the retry
  that re-sent this one), as service/outbound/retry.py links them in metadata.
"""

from __future__ import annotations

from typing import Any

from smsrelay.domain import catalogue

HELD, THROTTLED, TWILIO_RETRY = "held", "throttled", "twilio_retry"


def error(code: str | int | None, message: str | None) -> dict[str, Any] | None:
    if code in (None, "", 0, "0"):
        return None
    entry = catalogue.describe_unknown(code)
    return {"code": str(code), "message": message or entry.message, "meaning": entry.meaning,
            "action": entry.action, "retryable": entry.retryable}


def waiting(status: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    if status != "queued":
        return None
    hold = meta.get("hold")
    if isinstance(hold, dict) and hold.get("reason"):
        return {"reason": HELD, "detail": str(hold["reason"]), "since": hold.get("since"), "until": None}
    throttled = meta.get("throttled")
    if isinstance(throttled, dict) and throttled.get("until"):
        per_minute = throttled.get("perMinute")
        return {"reason": THROTTLED, "detail": f"{per_minute} messages a minute" if per_minute else None,
                "since": None, "until": throttled["until"]}
    last = meta.get("lastError")
    if isinstance(last, dict) and meta.get("nextAttemptAt"):
        what = last.get("code") or last.get("httpStatus") or "network"
        return {"reason": TWILIO_RETRY, "detail": f"Twilio answered {what}: {last.get('message') or ''}".strip(": "),
                "since": last.get("at"), "until": meta["nextAttemptAt"]}
    return None


def lineage(meta: dict[str, Any]) -> dict[str, str | None]:
    return {"retryOf": meta.get("retryOf"), "retriedAs": meta.get("retriedBy")}
