"""The simulator's FastAPI application.

REST middleware, in the order Twilio's edge would apply it: the API concurrency limit on
Messages create (429 / 20429), injected latency, random 429/5xx, then account-wide scenarios
(outage, rate_limited, auth_failure) before the route's own authentication.
"""

from __future__ import annotations

import asyncio
import math
from contextlib import asynccontextmanager
from functools import lru_cache
from urllib.parse import unquote_plus

from fastapi import FastAPI

from smsrelay.settings import Settings, get_settings

from . import admin, api, pricing
from .config import SimConfig
from .engine import Engine, TwilioFault
from .resources import API, error_response

ACCOUNTS = API + "/Accounts/"
FORM = b"application/x-www-form-urlencoded"


def _latency_seconds(spec: str, rng) -> float:
    """'' -> 0; 'fixed:MS'; 'lognormal:MEDIAN_MS:P99_MS'."""
    if not spec:
        return 0.0
    kind, a, b = _latency_model(spec)
    return a if kind == "fixed" else rng.lognormvariate(a, b) / 1000


@lru_cache(maxsize=16)
def _latency_model(spec: str) -> tuple[str, float, float]:
    """The spec parsed once: ('fixed', seconds, 0) or ('lognormal', mu, sigma) of milliseconds."""
    kind, _, rest = spec.partition(":")
    parts = [float(x) for x in rest.split(":") if x]
    if kind == "fixed" and parts:
        return kind, parts[0] / 1000, 0.0
    if kind == "lognormal" and len(parts) == 2:
        median, p99 = parts
        sigma = max(math.log(max(p99, median + 1e-9) / median) / 2.326, 1e-6)
        return kind, math.log(median), sigma
    raise ValueError(f"bad SIM_API_LATENCY {spec!r}")


async def _received(receive):
    """The whole request body, read before the edge's latency: Twilio works on a request it has
    received even if the caller stops waiting (a worker killed mid-call leaves a message at
    Twilio that nobody recorded). A caller gone before the body was complete sent nothing."""
    chunks, message = [], {"more_body": True}
    while message.get("more_body"):
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
    first = {"type": "http.request", "body": b"".join(chunks), "more_body": False} \
        if message["type"] == "http.request" else message
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return first

    return replay


class TwilioEdge:
    """What Twilio's edge does before a REST route runs. Plain ASGI in front of the whole
    application (see SimulatorApp): Starlette's `@app.middleware("http")` wraps every request in
    extra tasks and streams, and even its plain middleware layers cost the simulator a share of
    each create it answers."""

    def __init__(self, app, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.inflight_creates = 0

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API + "/"):
            await self.app(scope, receive, send)
            return
        is_create = scope["method"] == "POST" and path.endswith("/Messages.json")
        if is_create:
            if self.inflight_creates >= self.engine.cfg.max_concurrency:
                response = error_response(20429, 429, "Too Many Requests", headers={"Retry-After": "1"})
                await response(scope, receive, send)
                return
            self.inflight_creates += 1
            receive = await _received(receive)
        try:
            response = await self._refusal()
            if response is None and is_create and _form_create(scope):
                response = await self._create(scope, receive)
            if response is None:
                await self.app(scope, receive, send)
            else:
                await response(scope, receive, send)
        finally:
            if is_create:
                self.inflight_creates -= 1

    async def _create(self, scope, receive):
        """Messages create straight from ASGI: what the route in api.py does, without the
        router, dependency injection and form parser, which cost more than the create itself."""
        account_sid = scope["path"][len(ACCOUNTS):-len("/Messages.json")]
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return error_response(20001, 400, "The request body was not received")
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            api.check_access(self.engine, authorization, account_sid, scope["path"])
            fields, media = _parse_form(body)
            return await api.create_from_form(self.engine, fields.get, media)
        except TwilioFault as exc:
            return api.fault_response(exc)

    async def _refusal(self):
        engine = self.engine
        rng = engine.state.rng
        delay = _latency_seconds(engine.cfg.api_latency, rng)
        if delay:
            await asyncio.sleep(delay)
        if engine.cfg.random_429_rate and rng.random() < engine.cfg.random_429_rate:
            return error_response(20429, 429, "Too Many Requests", headers={"Retry-After": "1"})
        if engine.cfg.random_5xx_rate and rng.random() < engine.cfg.random_5xx_rate:
            return error_response(20500, 500, "Internal Server Error")
        for s in engine.scenarios.by_stage("api") + engine.scenarios.by_stage("auth"):
            if s.filtered or not (s.rate >= 1 or rng.random() < s.rate):
                continue
            if s.name == "auth_failure":
                return error_response(20003, 401, "Authenticate",
                                      headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
            if s.name == "rate_limited":
                return error_response(20429, 429, "Too Many Requests", headers={"Retry-After": "1"})
            # outage: a hung request half of the time, a 5xx otherwise
            draw = rng.random()
            if draw < 0.5:
                await engine.hang(engine.cfg.outage_hang_seconds)
                return error_response(20504, 504, "Gateway Timeout")
            if draw < 0.75:
                return error_response(20500, 500, "Internal Server Error")
            return error_response(20503, 503, "Service Unavailable")
        return None


def _parse_form(body: bytes) -> tuple[dict[str, str], list[str]]:
    """A urlencoded form as Starlette reads it: a repeated field's last value, and every MediaUrl."""
    fields, media = {}, []
    for field in body.decode("latin-1").split("&"):
        if field:
            name, _, value = field.partition("=")
            name, value = unquote_plus(name), unquote_plus(value)
            fields[name] = value
            if name == "MediaUrl":
                media.append(value)
    return fields, media


def _form_create(scope) -> bool:
    """A create the fast path serves: one account segment and a urlencoded form."""
    sid = scope["path"][len(ACCOUNTS):-len("/Messages.json")]
    if not scope["path"].startswith(ACCOUNTS) or not sid or "/" in sid:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == FORM
    return False


class SimulatorApp(FastAPI):
    """FastAPI with TwilioEdge in front of its middleware stack rather than inside it."""

    edge: TwilioEdge

    async def __call__(self, scope, receive, send) -> None:
        await self.edge(scope, receive, send)

    async def _inner(self, scope, receive, send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, sim_config: SimConfig | None = None) -> FastAPI:
    settings = settings or get_settings()
    cfg = sim_config or SimConfig()
    engine = Engine(settings, cfg.model_copy())
    _latency_seconds(cfg.api_latency, engine.state.rng)  # fail fast on a bad spec

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await engine.close()

    app = SimulatorApp(title="smsrelay Twilio simulator", lifespan=lifespan, docs_url="/_sim/docs",
                  openapi_url="/_sim/openapi.json", redoc_url=None)
    app.state.engine = engine
    app.state.initial_config = cfg.model_copy()
    api.install_fault_handler(app)
    app.include_router(api.router)
    app.include_router(admin.router)
    app.include_router(pricing.router)

    app.edge = TwilioEdge(app._inner, engine)

    return app
