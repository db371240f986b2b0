"""A 202 that says the message is held: when a guard would hold it at dispatch (kill switch,
runtime pause, org disabled, a rate of zero), the accepting answer says so at once, so an org
does not mistake a paused service for a slow one. The message is accepted and kept either
way (guards.py); the worker decides again when it takes the message, and the message
resource (`waiting`) then says what it decided.

The send path's statement stays as it is: the org's flags come from the tenancy cache the send
already used, and the runtime pause from a copy kept for a second per API process, so this
costs a send no round trip (at most one per second per process)."""

from __future__ import annotations

import time
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import channels
from smsrelay.service.outbound import guards
from smsrelay.service.runtime import Runtime

PAUSE_TTL_SECONDS = 1.0

WHY = {
    "kill_switch": "Sending is switched off (FEATURE_SMS_ENABLED); the message is kept and sent once it is on.",
    "paused": "Sending is paused by an operator; the message is kept and sent once sending resumes.",
    "org_disabled": "Sending is disabled for this org; the message is kept and sent once it is enabled.",
    "rate_zero": "This org's send rate is set to zero; the message is kept and sent once a rate is set.",
}


class _Pause:
    def __init__(self) -> None:
        self.value: dict[str, Any] | None = None
        self.read_at = float("-inf")

    async def get(self, conn: AsyncConnection) -> dict[str, Any] | None:
        if time.monotonic() - self.read_at > PAUSE_TTL_SECONDS:
            self.value = await guards.paused(conn)
            self.read_at = time.monotonic()
        return self.value


async def hold_reason(rt: Runtime, conn: AsyncConnection, org: dict[str, Any] | None,
                      channel: str | None = None) -> str | None:
    """What would hold a message of this channel (SMS when None): each channel has its own switch."""
    if not org:
        return None
    pause = await rt.extras.setdefault("accept_pause", _Pause()).get(conn)
    return guards.hold_reason(rt.settings, {
        "pause": pause, "channel": channel, "maxMessagesPerMinute": org.get("maxMessagesPerMinute"),
        **{column: org.get(column) for column in channels.DISABLED_COLUMN.values()}})


def mark_held(body: dict[str, Any], reason: str | None) -> dict[str, Any]:
    """The accepting answer, with `held` when a guard holds the message (None: not held)."""
    if reason is None or body.get("status") != "queued":
        return body
    return {**body, "held": {"reason": reason, "message": WHY.get(reason, "The message is kept and sent later.")}}
