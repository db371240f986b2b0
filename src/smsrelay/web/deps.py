"""Dependencies every route shares. Tenant scoping lives here, once: an org route gets its
org id from the API key, never from the URL or the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection

from smsrelay.service import orgs
from smsrelay.service.problems import Problem
from smsrelay.service.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def connection(rt: Annotated[Runtime, Depends(runtime)]):
    async with rt.pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


async def current_org(request: Request, conn: Conn) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthorized", "Send your API key as 'Authorization: Bearer <key>'.")
    org_id = await orgs.authenticate(conn, token.strip())
    if org_id is None:
        raise Problem(401, "unauthorized", "Unknown or revoked API key.")
    return org_id


OrgId = Annotated[str, Depends(current_org)]
