"""What an org changes about itself with its own API key: its opt-out list and its API keys.

Numbers are read as a send reads `to` (the org's default region, E.164 out), so the list holds
exactly what a send checks against. Adding a number is the API's STOP: accept refuses it from
then on and a queued message to it fails at dispatch (21610), as after an inbound STOP;
removing it is the API's START. Operators keep the CLI (`smsrelay org key …`).

Keys: a new key is shown once (only its hash is stored), a listing never carries secrets, and an
org cannot revoke its last active key, so it can never lock itself out of its own API (the key
it calls with can go once it has made another). An operator can still revoke any key.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import cursor
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.service.outbound import messages
from smsrelay.service.tenancy import orgs
from smsrelay.store import sql

OPT_OUTS = "opt-outs"


def _iso(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {**row, **{n: messages._iso(row[n]) for n in names}}


async def _region(conn: AsyncConnection, org_id: str) -> str:
    return (await orgs.get_org(conn, org_id))["defaultRegion"]


async def normalise(conn: AsyncConnection, org_id: str, raw: str, field: str) -> str:
    """`raw` as a send to it would store it (E.164), or 422 invalid_to_number naming `field`."""
    messages.check_characters(**{field: raw})
    region = await _region(conn, org_id)
    try:
        check = messages.recipient(raw, region)
    except Problem as problem:
        problem.details["field"] = field
        raise
    assert check.e164 is not None
    return check.e164


async def list_opt_outs(conn: AsyncConnection, org_id: str, *, after: str | None, limit: int) -> dict[str, Any]:
    after_phone = None
    if after is not None:
        try:
            (after_phone,) = cursor.decode(after, OPT_OUTS, (str,))
        except cursor.InvalidCursor:
            raise problems.INVALID_CURSOR(field="after") from None
    rows = await sql.all(conn, "list_org_opt_outs", org_id=org_id, after_phone=after_phone, limit=limit + 1)
    page = [_iso(r, "createdAt") for r in rows[:limit]]
    more = len(rows) > limit
    return {"optOuts": page, "nextCursor": cursor.encode(OPT_OUTS, [page[-1]["phone"]]) if more else None}


async def add_opt_out(conn: AsyncConnection, org_id: str, raw: str, *, source: str = "api") -> tuple[bool, dict[str, Any]]:
    """(created, the opt-out): adding a number already on the list returns it unchanged.
    `source` says who added it (the API, or the operator's cli:<user>)."""
    phone = await normalise(conn, org_id, raw, "phone")
    row = await sql.one(conn, "add_org_opt_out", org_id=org_id, phone=phone, source=source)
    assert row is not None
    created = row.pop("created")
    return created, _iso(row, "createdAt")


async def remove_opt_out(conn: AsyncConnection, org_id: str, raw: str) -> None:
    phone = await normalise(conn, org_id, raw, "phone")
    if await sql.one(conn, "remove_org_opt_out", org_id=org_id, phone=phone) is None:
        raise problems.NOT_FOUND(what="opt-out")


def _public_key(row: dict[str, Any], calling_key_id: str | None) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "prefix": row["prefix"],
            "createdAt": messages._iso(row["createdAt"]), "revokedAt": messages._iso(row.get("revokedAt")),
            "current": row["id"] == calling_key_id}


async def list_keys(conn: AsyncConnection, org_id: str, calling_key_id: str | None) -> dict[str, Any]:
    return {"apiKeys": [_public_key(r, calling_key_id) for r in await orgs.list_keys(conn, org_id)]}


async def create_key(conn: AsyncConnection, org_id: str, name: str | None) -> dict[str, Any]:
    """The new key's resource with the key itself ("apiKey"): the only time anyone sees it."""
    secret, row = await orgs.issue_key_row(conn, org_id, name=name)
    return {**_public_key(row, None), "apiKey": secret}


async def revoke_key(conn: AsyncConnection, org_id: str, key_id: str) -> None:
    async with conn.transaction():
        done = await sql.one(conn, "revoke_own_api_key", org_id=org_id, id=key_id)
    assert done is not None
    if not done["found"]:
        raise problems.NOT_FOUND(what="API key")
    if not done["revoked"]:
        raise problems.LAST_API_KEY(key_id=key_id)
