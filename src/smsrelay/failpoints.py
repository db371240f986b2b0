"""Named crash points for fault tests, off unless SMSRELAY_FAILPOINTS is set.

`SMSRELAY_FAILPOINTS="after_send:0.05,before_send:0.05"` makes a process SIGKILL itself with
that probability each time it passes the point, so a fault test can hit the narrowest
windows of a send (Twilio accepted, sid not yet committed) instead of hoping a random
external kill lands there.
"""

from __future__ import annotations

import os
import random
import signal


def _parse(spec: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, chance = item.partition(":")
        points[name] = float(chance or 1.0)
    return points


_POINTS = _parse(os.environ.get("SMSRELAY_FAILPOINTS", ""))


def hit(name: str) -> None:
    chance = _POINTS.get(name)
    if chance and random.random() < chance:
        os.kill(os.getpid(), signal.SIGKILL)
