"""Named crash points for fault tests, off unless SMSRELAY_FAILPOINTS is set or a test arms one.

`SMSRELAY_FAILPOINTS="after_send:0.05,before_send:0.05"` makes a process SIGKILL itself with
that probability each time it passes the point, so a fault test can hit the narrowest
windows of a send (Twilio accepted, sid not yet committed) instead of hoping a random
external kill lands there.

`arm(name, pause=seconds)` instead freezes the calling thread there (its event loop, heartbeat
and all), as a stopped process, a long GC pause or a VM migration would: how a test makes a
live worker look dead for longer than the heartbeat timeout.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time


def _parse(spec: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, chance = item.partition(":")
        points[name] = float(chance or 1.0)
    return points


_POINTS = _parse(os.environ.get("SMSRELAY_FAILPOINTS", ""))
_PAUSES: dict[str, list[float]] = {}  # name -> pauses still to take, one per pass
_lock = threading.Lock()


def arm(name: str, *, pause: float, times: int = 1) -> None:
    with _lock:
        _PAUSES[name] = [pause] * times


def disarm() -> None:
    with _lock:
        _PAUSES.clear()


def hit(name: str) -> None:
    with _lock:
        pauses = _PAUSES.get(name)
        pause = pauses.pop() if pauses else None
    if pause:
        time.sleep(pause)  # blocking on purpose: the whole process (loop) stands still
    chance = _POINTS.get(name)
    if chance and random.random() < chance:
        os.kill(os.getpid(), signal.SIGKILL)
