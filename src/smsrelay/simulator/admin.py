"""Admin endpoints under /_sim: scenarios, ledger, inbound, reset, runtime config.

These are the simulator's own controls (no Twilio equivalent), unauthenticated and loopback-only.
"""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from .config import RUNTIME_FIELDS, SimConfig
from .engine import Engine
from .scenarios import CATALOGUE, ScenarioError
from .state import Message

router = APIRouter(prefix="/_sim")


def _engine(request: Request) -> Engine:
    return request.app.state.engine


class ScenarioIn(BaseModel):
    name: str
    number: str | None = None
    match: str | None = None
    country: str | None = None
    rate: float | None = Field(default=None, ge=0, le=1)
    for_seconds: float | None = Field(default=None, gt=0)
    code: int | None = None
    limit: int | None = Field(default=None, ge=1)
    per_seconds: float | None = Field(default=None, gt=0)


class InboundIn(BaseModel):
    from_: str = Field(alias="from")
    to: str
    body: str

    model_config = {"populate_by_name": True}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def ledger_entry(m: Message) -> dict:
    return {
        "sid": m.sid,
        "direction": m.direction,
        "to": m.to,
        "from": m.from_ or m.sender,
        "body": m.body,
        "status": m.status,
        "error_code": m.error_code,
        "num_segments": m.num_segments,
        "encoding": m.encoding,
        "messaging_service_sid": m.messaging_service_sid,
        "status_callback": m.status_callback,
        "created_at": _iso(m.date_created),
        "sent_at": _iso(m.date_sent),
        "created_ts": m.date_created,
        "sent_ts": m.date_sent,
        "history": [{"status": s, "at": _iso(t)} for s, t in m.history],
        "callbacks": list(m.callbacks),
        "channel": m.channel,
        "num_media": m.num_media,
        "content_sid": m.content_sid,
        "content_variables": m.content_variables,
        "to_country": m.to_country,
        "price": m.price,
        "price_unit": "USD",
    }


@router.get("/health")
def health(request: Request):
    return {"ok": True, "account_sid": _engine(request).state.account_sid}


@router.get("/scenarios")
def list_scenarios(request: Request):
    return {
        "active": [s.as_dict() for s in _engine(request).scenarios.active()],
        "available": {k.name: k.summary for k in CATALOGUE.values()},
    }


@router.post("/scenarios", status_code=201)
def add_scenario(body: ScenarioIn, request: Request):
    try:
        s = _engine(request).scenarios.add(
            body.name, number=body.number, match=body.match, country=body.country,
            rate=body.rate, for_seconds=body.for_seconds, code=body.code, limit=body.limit,
            per_seconds=body.per_seconds,
        )
    except ScenarioError as exc:
        raise HTTPException(400, str(exc)) from exc
    return {"scenario": s.as_dict() if s else None,
            "active": [x.as_dict() for x in _engine(request).scenarios.active()]}


@router.delete("/scenarios")
def clear_scenarios(request: Request):
    _engine(request).scenarios.clear()
    return {"active": []}


@router.delete("/scenarios/{scenario_id}")
def remove_scenario(scenario_id: int, request: Request):
    scenarios = _engine(request).scenarios
    if not scenarios.remove(scenario_id):
        raise HTTPException(404, f"no active scenario {scenario_id}")
    return {"active": [x.as_dict() for x in scenarios.active()]}


@router.get("/ledger")
def ledger(request: Request, to: str | None = None, from_: str | None = None,
           direction: str | None = None):
    # `from` is a keyword in Python; accept ?from= as well as ?from_=.
    from_ = from_ or request.query_params.get("from")
    rows = _engine(request).state.ledger(to=to, from_=from_, direction=direction)
    return {"messages": [ledger_entry(m) for m in rows]}


@router.post("/inbound")
async def inbound(body: InboundIn, request: Request):
    return await _engine(request).send_inbound(body.from_, body.to, body.body)


@router.post("/reset")
async def reset(request: Request):
    engine = _engine(request)
    await engine.reset()
    initial: SimConfig = request.app.state.initial_config
    _apply_config(engine, initial.model_dump(include=set(RUNTIME_FIELDS)))
    return {"ok": True}


def _apply_config(engine: Engine, changes: dict) -> dict:
    unknown = set(changes) - set(RUNTIME_FIELDS)
    if unknown:
        raise HTTPException(400, f"not settable at run time: {sorted(unknown)}")
    merged = engine.cfg.model_dump() | changes
    validated = SimConfig.model_validate(merged)  # same validation as the environment
    for key in changes:
        setattr(engine.cfg, key, getattr(validated, key))
    wh = engine.webhooks
    wh.timeout = engine.cfg.callback_timeout_seconds
    wh.max_attempts = engine.cfg.callback_max_attempts
    wh.retry_base_ms = engine.cfg.callback_retry_base_ms
    return engine.cfg.model_dump(include=set(RUNTIME_FIELDS))


@router.get("/config")
def get_config(request: Request):
    return _engine(request).cfg.model_dump(include=set(RUNTIME_FIELDS))


@router.patch("/config")
async def patch_config(request: Request):
    changes = await request.json()
    if not isinstance(changes, dict):
        raise HTTPException(400, "expected a JSON object")
    try:
        return _apply_config(_engine(request), changes)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
