"""The API process's FastAPI application."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from smsrelay.service.runtime import Runtime
from smsrelay.web import api, api_events, api_keys, api_optouts, api_usage, docs_ui, errors, problem_docs, webhooks
from smsrelay.web.content_type import JsonOnly
from smsrelay.web.fast_routes import FastRoutes
from smsrelay.web.problem_docs import ErrorResponse
from smsrelay.web.deps import tenancy_cache
from smsrelay.web.limits import BodySizeLimit
from smsrelay.web.url_text import UrlTextGuard
from smsrelay.web import metrics
from smsrelay.web import admin_incident
from smsrelay.web import admin_guardrails
from smsrelay.web import admin_autopilot
from smsrelay.web import dashboard
from smsrelay.web import api_templates
from smsrelay.web import scheduled


COMMON_ERRORS = {
    400: "Malformed request", 401: "Missing or unknown API key", 403: "Forbidden (bad signature, admin token)",
    404: "Not found (also another org's resource)", 413: "Request body too large",
    415: "The body is not JSON", 422: "Invalid input", 429: "Rate limited (see Retry-After)",
    500: "Our fault (internal_error)", 503: "Database unavailable (see Retry-After)",
}

DESCRIPTION = """Multi-tenant SMS on Twilio with its incident response built in.

Authenticate with your org's API key: `Authorization: Bearer sk_...`. Another org's resource
answers 404, exactly as a missing one. Request bodies are JSON (`Content-Type: application/json`,
else 415). Listings page with an opaque cursor: pass a page's `nextCursor` as `after`.
Every error is `{"error": {"code", "message", ...}}`; `field` names the field at fault.
docs/api.md has the whole contract.

## Errors

"""


def create_app(rt: Runtime) -> FastAPI:
    problem = rt.settings.default_token_problem()
    if problem:
        raise RuntimeError(problem)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await rt.open()
        cache = tenancy_cache(rt)
        cache.start(rt.database_url)
        try:
            yield
        finally:
            await cache.stop()
            await rt.close()

    app = FastAPI(title="smsrelay", version="0.1.0", lifespan=lifespan,
                  description=DESCRIPTION + problem_docs.table(),
                  docs_url=None, redoc_url=None,  # web/docs_ui.py serves /docs without a CDN
                  # Every route can answer these, always as {"error": {"code", "message"}}.
                  responses={status: {"model": ErrorResponse, "description": why}
                             for status, why in COMMON_ERRORS.items()})
    app.state.runtime = rt
    # Innermost, so the checks below hold for the routes it serves without FastAPI.
    app.add_middleware(FastRoutes, runtime=rt)
    app.add_middleware(BodySizeLimit, max_bytes=rt.settings.max_request_bytes,
                       per_path={"/v1/messages:batch": rt.settings.max_batch_request_bytes})
    app.add_middleware(UrlTextGuard)
    app.add_middleware(JsonOnly)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api_templates.router)
    app.include_router(api_optouts.router)
    app.include_router(api_usage.router)
    app.include_router(api_keys.router)
    docs_ui.install(app)
    app.include_router(api_events.router)
    app.include_router(scheduled.router)
    app.include_router(webhooks.router)
    app.include_router(admin_incident.router)
    app.include_router(admin_guardrails.router)
    app.include_router(admin_autopilot.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict:
        async with rt.pool.connection() as conn:
            await conn.execute("SELECT 1")
        return {"status": "ok"}

    return app


def from_environment(database_url: str | None = None) -> FastAPI:
    """The app `smsrelay api` serves, its settings from the environment (uvicorn's factory for
    `--workers N`, where each process calls it)."""
    from smsrelay.settings import get_settings

    settings = get_settings()
    url = database_url or settings.database_url
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return create_app(Runtime.create(settings, url, pool_size=20, name="smsrelay-api"))
