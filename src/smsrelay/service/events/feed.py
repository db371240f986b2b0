"""GET /v1/events: an org's events, oldest first, paged by an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import webhook_events
from smsrelay.service import problems
from smsrelay.store import sql

MAX_LIMIT = 500


def encode_cursor(txid: str, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"1:{txid}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, int]:
    """(txid, id) after which to read; the start when no cursor is given."""
    if not cursor:
        return "0", 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise problems.INVALID_EVENT_CURSOR() from None
    version, _, rest = text.partition(":")
    txid, _, row_id = rest.partition(":")
    if version != "1" or not txid.isdigit() or not row_id.isdigit() or len(txid) > 20 or len(row_id) > 18:
        raise problems.INVALID_EVENT_CURSOR()
    return txid, int(row_id)


async def page(conn: AsyncConnection, org_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
    """`next` is where to read from next time: the same cursor back when nothing new has come, so
    a poller simply keeps passing the last `next` it got."""
    txid, row_id = decode_cursor(after)
    rows = await sql.all(conn, "events_feed", org_id=org_id, after_txid=txid, after_id=row_id, limit=limit)
    nxt = encode_cursor(rows[-1]["txidText"], rows[-1]["id"]) if rows else (after or encode_cursor(txid, row_id))
    return {"events": [webhook_events.body(r) for r in rows], "next": nxt, "hasMore": len(rows) == limit}
