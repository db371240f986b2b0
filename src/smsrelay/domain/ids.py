"""Prefixed, time-ordered identifiers ("msg_01J9...").

ULID layout: 48-bit millisecond timestamp then 80 random bits, in Crockford
base32. The timestamp comes first so that ids sort by creation time, which
keeps B-tree inserts append-mostly and lets "newest first" be an index scan.
Within one millisecond the order is random: nothing here keeps state, so
callers that need a strict order inside a millisecond must not rely on ids.
"""

from __future__ import annotations

import os
import re
import time

# Crockford's alphabet drops I, L, O and U so ids survive being read aloud.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_TIME_CHARS = 10
_RANDOM_CHARS = 16
ID_BODY_LENGTH = _TIME_CHARS + _RANDOM_CHARS
_MAX_MS = (1 << 48) - 1
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,15}$")

KNOWN_PREFIXES = frozenset({"msg", "org", "key", "num", "evt"})


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return ``prefix + "_" + 26 chars``; ``now_ms`` pins the time for tests."""
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"id prefix must be short lowercase alphanumeric, got {prefix!r}")
    # The one sanctioned reach outside the domain: an id needs a time and entropy.
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"timestamp out of the 48-bit range: {ms}")
    randomness = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(ms, _TIME_CHARS)}{_encode(randomness, _RANDOM_CHARS)}"


def split_id(value: str) -> tuple[str, str]:
    """Return (prefix, body); raise ValueError if ``value`` is not one of our ids."""
    prefix, sep, body = value.partition("_")
    if (
        not sep
        or not _PREFIX_RE.match(prefix)
        or len(body) != ID_BODY_LENGTH
        or any(c not in _DECODE for c in body)
        # 26 base32 chars hold 130 bits; a ULID uses 128, so the first char is at most 7.
        or _DECODE[body[0]] > 7
    ):
        raise ValueError(f"not an id: {value!r}")
    return prefix, body


def is_valid_id(value: str, prefix: str | None = None) -> bool:
    try:
        got, _ = split_id(value)
    except ValueError:
        return False
    return prefix is None or got == prefix


def timestamp_ms(value: str) -> int:
    """The creation time embedded in an id, in Unix milliseconds."""
    _, body = split_id(value)
    ms = 0
    for c in body[:_TIME_CHARS]:
        ms = (ms << 5) | _DECODE[c]
    return ms
