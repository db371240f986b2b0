"""Opaque paging cursors for the public API (`GET /v1/messages`, `GET /v1/events`).

A cursor is the position of the last item a page returned, as URL-safe base64 of compact JSON:
`{"k": <kind>, "p": [<values>]}`. The kind keeps one listing's cursor from being taken for
another's, and the values are the listing's sort key (e.g. createdAt and id), so the next page
is a keyset query ("rows after this key"), stable while rows are inserted, with no OFFSET.

Opaque means the client must not build or read one; it is not secret: it carries only what the
org already saw on the page, and every listing is scoped to the caller's org anyway, so an edited
cursor can at worst move within the org's own rows. Decoding is strict (kind, arity and each
value's type), so a mangled cursor is a 422 naming the parameter, never a 500.

Usage:
    token = cursor.encode("messages", [created_at, message_id])
    created_at, message_id = cursor.decode(token, "messages", (datetime, str))
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

# A cursor is a few dozen characters; anything much longer is not one of ours.
MAX_LENGTH = 512


class InvalidCursor(ValueError):
    """The text is not a cursor this listing issued."""


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise ValueError("a cursor's datetime must be timezone-aware")
        # Microseconds kept: rows created in the same millisecond must not be skipped.
        return {"t": v.astimezone(timezone.utc).isoformat()}
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise TypeError(f"a cursor holds str, int or datetime values, not {type(v).__name__}")
    return v


def encode(kind: str, position: Sequence[Any]) -> str:
    """The cursor for the item at `position` (its sort key) in the listing `kind`."""
    raw = json.dumps({"k": kind, "p": [_value(v) for v in position]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _typed(v: Any, want: type) -> Any:
    if want is datetime:
        if not (isinstance(v, dict) and set(v) == {"t"} and isinstance(v["t"], str)):
            raise InvalidCursor("not a cursor of this listing")
        try:
            parsed = datetime.fromisoformat(v["t"])
        except ValueError as exc:
            raise InvalidCursor("not a cursor of this listing") from exc
        if parsed.tzinfo is None:
            raise InvalidCursor("not a cursor of this listing")
        return parsed
    if want is int:
        if isinstance(v, bool) or not isinstance(v, int) or not -(2**63) <= v < 2**63:
            raise InvalidCursor("not a cursor of this listing")
        return v
    if not isinstance(v, want):
        raise InvalidCursor("not a cursor of this listing")
    return v


def decode(token: str, kind: str, types: Sequence[type]) -> list[Any]:
    """The position a cursor of listing `kind` holds, each value checked against `types`.
    Raises InvalidCursor for anything else (another listing's cursor, a mangled one)."""
    if not token or len(token) > MAX_LENGTH:
        raise InvalidCursor("not a cursor of this listing")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor of this listing") from exc
    if not isinstance(data, dict) or data.get("k") != kind or not isinstance(data.get("p"), list):
        raise InvalidCursor("not a cursor of this listing")
    values = data["p"]
    if len(values) != len(types):
        raise InvalidCursor("not a cursor of this listing")
    return [_typed(v, t) for v, t in zip(values, types)]
