"""Signing what we deliver to an org's endpoint, in Stripe's scheme, so any receiver that knows
it (or the snippets in docs/api.md) can check it.

Header `Smsrelay-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`: each v1 is
HMAC-SHA256(secret, "<t>.<raw body>") under one of the org's active secrets (the current one
first; the previous one too during a rotation's grace period), so a receiver that still holds
the old secret verifies as well as one that already has the new. The timestamp is inside what is
signed: a captured delivery replayed later fails the receiver's tolerance check.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER = "Smsrelay-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    if not secrets:
        raise ValueError("an org without a signing secret cannot be delivered to")
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def verify(secret: str, value: str, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: some v1 matches under `secret`, and t is within the tolerance."""
    parts = [p.partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for k, _, v in parts if k == "v1")
