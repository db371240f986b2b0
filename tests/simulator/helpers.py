"""Shared numbers and polling helpers for the simulator tests."""

from __future__ import annotations

import time

LONG = "+16505551234"      # long code (10DLC)
LONG2 = "+16505551235"
TOLL = "+18005550100"      # toll-free
SHORT = "12345"            # short code
TO_US = "+14155552671"
TO_US2 = "+14155552672"
TO_FR = "+33612345678"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
