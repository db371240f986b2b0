"""GET /v1/events: an org's events, oldest first, paged by an opaque cursor."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import cursor, webhook_events
from smsrelay.service import problems
from smsrelay.store import sql

MAX_LIMIT = 500
EVENTS = "events"  # the cursor's kind: another listing's cursor is refused


def encode_cursor(txid: str, row_id: int) -> str:
    return cursor.encode(EVENTS, [txid, row_id])


def decode_cursor(after: str | None) -> tuple[str, int]:
    """(txid, id) after which to read; the start when no cursor is given."""
    if not after:
        return "0", 0
    try:
        txid, row_id = cursor.decode(after, EVENTS, (str, int))
    except cursor.InvalidCursor:
        raise problems.INVALID_CURSOR(field="after") from None
    if not txid.isdigit() or len(txid) > 20:  # an xid8, compared as one in SQL
        raise problems.INVALID_CURSOR(field="after")
    return txid, row_id


async def page(conn: AsyncConnection, org_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
    """`next` is where to read from next time: the same cursor back when nothing new has come, so
    a poller simply keeps passing the last `next` it got."""
    txid, row_id = decode_cursor(after)
    rows = await sql.all(conn, "events_feed", org_id=org_id, after_txid=txid, after_id=row_id, limit=limit)
    nxt = encode_cursor(rows[-1]["txidText"], rows[-1]["id"]) if rows else (after or encode_cursor(txid, row_id))
    return {"events": [webhook_events.body(r) for r in rows], "next": nxt, "hasMore": len(rows) == limit}
