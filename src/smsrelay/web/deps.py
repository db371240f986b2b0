"""Dependencies every route shares. Tenant scoping lives here, once: an org route gets its
org id from the API key, never from the URL or the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg import AsyncConnection

from smsrelay.service.tenancy import api_limits, orgs
from smsrelay.service.tenancy.cache import TenancyCache
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


def _unknown_keys(rt: Runtime) -> api_limits.UnknownKeys:
    return rt.extras.setdefault("unknown_api_keys", api_limits.UnknownKeys())


async def api_key(request: Request) -> str:
    """The bearer key, refused before any pool connection when it cannot be one of ours: a
    stranger's guesses must not queue for the connections that serve sends and webhooks.
    Resolved before `Conn` because FastAPI resolves a dependency's parameters in order."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise problems.UNAUTHORIZED()
    if api_limits.refused_without_lookup(token, _unknown_keys(request.app.state.runtime)):
        raise problems.UNAUTHORIZED("unknown_key")
    return token


async def current_org(request: Request, token: Annotated[str, Depends(api_key)], conn: Conn) -> str:
    """The key's org, from the process's cache of keys (service/tenancy/cache.py) when it has it.
    Uncounted: POST /v1/messages counts the request in its accept statement, every other org
    route through OrgId."""
    rt = request.app.state.runtime
    key = await tenancy_cache(rt).key(conn, orgs.hash_key(token))
    if key is None:
        _unknown_keys(rt).add(token)
        raise problems.UNAUTHORIZED("unknown_key")
    return key["orgId"]


async def counted_org(request: Request, org_id: Annotated[str, Depends(current_org)],
                      token: Annotated[str, Depends(api_key)], conn: Conn) -> str:
    """current_org with the request counted against the key's minute (and the key checked live)."""
    rt = request.app.state.runtime
    key = await api_limits.authenticate(conn, token, rt.settings.api_rate_limit_per_minute)
    if key is None:
        _unknown_keys(rt).add(token)
        raise problems.UNAUTHORIZED("unknown_key")
    return key["orgId"]


OrgId = Annotated[str, Depends(counted_org)]
SendOrg = Annotated[str, Depends(current_org)]


def tenancy_cache(rt: Runtime) -> TenancyCache:
    """The process's cache of keys and orgs; served only while app.py's lifespan has its listener up."""
    return rt.extras.setdefault("tenancy_cache", TenancyCache())


async def accept_message(request: Request, org_id: str, conn: AsyncConnection,
                         **message: Any) -> tuple[int, dict]:
    rt = request.app.state.runtime
    token = await api_key(request)
    answer = await api_limits.accept_with_key(conn, tenancy_cache(rt), token, org_id,
                                              rt.settings.api_rate_limit_per_minute, **message)
    if answer is None:
        _unknown_keys(rt).add(token)
        raise problems.UNAUTHORIZED("unknown_key")
    return answer


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
