"""Named crash points for fault tests, off unless SMSRELAY_FAILPOINTS is set or a test arms one.

`SMSRELAY_FAILPOINTS="after_send:0.05,before_send:0.05"` makes a process SIGKILL itself with
that probability each time it passes the point, so a fault test can hit the narrowest
windows of a send (Twilio accepted, sid not yet committed) instead of hoping a random
external kill lands there.

`arm(name, pause=seconds)` instead freezes the calling thread there (its event loop, heartbeat
and all), as a stopped process, a long GC pause or a VM migration would: how a test makes a
live worker look dead for longer than the heartbeat timeout. With `until` (an event) the freeze
ends as soon as the test sets it, so a test can let another run go first and then resume this
one, instead of guessing how long the other needs.
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
_UNTIL: dict[str, threading.Event] = {}
_FROZEN: set[str] = set()
_lock = threading.Lock()


def arm(name: str, *, pause: float, times: int = 1, until: threading.Event | None = None) -> None:
    with _lock:
        _PAUSES[name] = [pause] * times
        if until is not None:
            _UNTIL[name] = until


def disarm() -> None:
    with _lock:
        _PAUSES.clear()
        _UNTIL.clear()


def frozen(name: str) -> bool:
    """Whether a thread stands still at `name` now."""
    with _lock:
        return name in _FROZEN


def hit(name: str) -> None:
    with _lock:
        pauses = _PAUSES.get(name)
        pause = pauses.pop() if pauses else None
        until = _UNTIL.get(name)
        if pause:
            _FROZEN.add(name)
    if pause:
        # Blocking on purpose: the whole process (loop) stands still.
        if until is not None:
            until.wait(pause)
        else:
            time.sleep(pause)
        with _lock:
            _FROZEN.discard(name)
    chance = _POINTS.get(name)
    if chance and random.random() < chance:
        os.kill(os.getpid(), signal.SIGKILL)
