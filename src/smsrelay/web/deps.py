"""Dependencies every route shares. Tenant scoping lives here, once: an org route gets its
org id from the API key, never from the URL or the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
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


# Declared for the OpenAPI document (its security schemes); api_key and operator read the header
# themselves, so that a missing or malformed one gets our own error body.
BEARER = HTTPBearer(auto_error=False, scheme_name="apiKey", bearerFormat="sk_...",
                    description="The org's API key: `Authorization: Bearer sk_...`")
ADMIN_BEARER = HTTPBearer(auto_error=False, scheme_name="adminToken",
                          description="The operators' ADMIN_API_TOKEN (admin routes only)")


async def api_key(request: Request,
                  _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None) -> str:
    """The bearer key, refused before any pool connection when it cannot be one of ours: a
    stranger's guesses must not queue for the connections that serve sends and webhooks.
    Resolved before `Conn` because FastAPI resolves a dependency's parameters in order."""
    return bearer_token(request.app.state.runtime, request.headers.get("authorization", ""))


def bearer_token(rt: Runtime, header: str) -> str:
    """api_key's rules on the Authorization header's text (web/fast_routes.py calls it too)."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise problems.UNAUTHORIZED()
    if api_limits.refused_without_lookup(token, _unknown_keys(rt)):
        raise problems.UNAUTHORIZED("unknown_key")
    return token


async def current_org(request: Request, token: Annotated[str, Depends(api_key)], conn: Conn) -> str:
    """The key's org, from the process's cache of keys (service/tenancy/cache.py) when it has it.
    Uncounted: POST /v1/messages counts the request in its accept statement, every other org
    route through OrgId."""
    return await org_of_token(request.app.state.runtime, conn, token)


async def org_of_token(rt: Runtime, conn: AsyncConnection, token: str) -> str:
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


async def accept_message(rt: Runtime, token: str, org_id: str, conn: AsyncConnection,
                         **message: Any) -> tuple[int, dict]:
    answer = await api_limits.accept_with_key(conn, tenancy_cache(rt), token, org_id,
                                              rt.settings.api_rate_limit_per_minute, **message)
    if answer is None:
        _unknown_keys(rt).add(token)
        raise problems.UNAUTHORIZED("unknown_key")
    return answer


async def operator(request: Request,
                   _: Annotated[HTTPAuthorizationCredentials | None, Security(ADMIN_BEARER)] = None) -> str:
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
