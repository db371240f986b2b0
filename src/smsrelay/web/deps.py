"""Dependencies every route shares. Tenant scoping lives here, once: an org route gets its
org id from the API key, never from the URL or the body."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection

from smsrelay.service.tenancy import api_limits
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime


async def runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a thread hop on every
    # request that cost the callback endpoint a visible share of its CPU (docs/benchmarks.md).
    return request.app.state.runtime


async def connection(rt: Annotated[Runtime, Depends(runtime)]):
    async with rt.pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


async def current_org(request: Request, conn: Conn) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise problems.UNAUTHORIZED()
    key = await api_limits.authenticate(conn, token.strip(), request.app.state.runtime.settings.api_rate_limit_per_minute)
    if key is None:
        raise problems.UNAUTHORIZED("unknown_key")
    return key["orgId"]


OrgId = Annotated[str, Depends(current_org)]


async def operator(request: Request) -> str:
    """Admin routes: a configured ADMIN_API_TOKEN, compared in constant time. The operator's
    name (X-Operator header, default 'admin-api') goes into "AuditLog"."""
    import hmac

    expected = request.app.state.runtime.settings.admin_api_token
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not expected:
        raise problems.ADMIN_DISABLED()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise problems.FORBIDDEN()
    name = request.headers.get("x-operator", "admin-api").strip()[:64] or "admin-api"
    return f"admin:{name}"


Operator = Annotated[str, Depends(operator)]
