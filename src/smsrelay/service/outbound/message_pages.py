"""GET /v1/messages: an org's messages newest first, a page at a time after an opaque cursor
(domain/cursor.py), filtered as a send would read the same values (`to` normalised in the
org's default region, so "(415) 555-2671" finds what a send to it stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import cursor
from smsrelay.service import problems
from smsrelay.service.outbound import messages
from smsrelay.service.tenancy import orgs
from smsrelay.store import sql

KIND = "messages"


async def page(conn: AsyncConnection, org_id: str, *, status: str | None, since: datetime | None,
               to: str | None, after: str | None, limit: int, channel: str | None = None) -> dict[str, Any]:
    before = before_id = None
    if after is not None:
        try:
            before, before_id = cursor.decode(after, KIND, (datetime, str))
        except cursor.InvalidCursor:
            raise problems.INVALID_CURSOR(field="after") from None
    if to is not None:
        messages.check_characters(to=to)
        to = messages.recipient(to, (await orgs.get_org(conn, org_id))["defaultRegion"]).e164
    rows = await sql.all(conn, "list_messages", org_id=org_id, status=status, to=to, since=since,
                         before=before, before_id=before_id, limit=limit + 1, channel=channel)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {"messages": [messages.present(r) for r in rows],
            "nextCursor": cursor.encode(KIND, [last["createdAt"], last["id"]]) if more and last else None}
