"""The two hottest routes, POST /v1/messages and POST /webhooks/twilio/status, served straight
from ASGI: FastAPI's router, dependency resolution and request objects cost the API process
more than these routes' own work (docs/benchmarks.md), as they cost the simulator's create.

This sits inside the app's own middleware (body size, URL text, JSON only), so those checks
hold as for every route. The routes stay declared in api.py and webhooks.py (the OpenAPI
document, and the answer to anything this path does not serve). A request is served here only
in its ordinary form: a body that parses and validates, a known header shape. Anything else is
handed, untouched and with its body replayed, to FastAPI, which answers exactly as it always
did; this path never hands over once it has done anything a retry could see (taken a
connection, counted a request). What it answers itself (the service's Problems, a database
outage, an internal error) it renders with the same functions as the app's exception handlers.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsrelay.web import api, deps, errors, webhooks

SEND_PATH = "/v1/messages"
STATUS_PATH = "/webhooks/twilio/status"
MAX_IDEMPOTENCY_KEY = 255  # as the route's Header(max_length=255)


class _Handover(Exception):
    """Not this path's case: FastAPI answers it."""


def _header(scope: Scope, name: bytes) -> str | None:
    # The first of its name, decoded as Starlette's Headers.get decodes it.
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _read(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in (to replay to FastAPI)."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            raise _Handover  # a disconnect: FastAPI sees it as it would have
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replay() -> Message:
        return queue.pop(0) if queue else await receive()

    return replay


class FastRoutes:
    def __init__(self, app: ASGIApp, runtime: Any) -> None:
        self.app = app
        self.rt = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            route = self._send if path == SEND_PATH else self._status if path == STATUS_PATH else None
            if route is not None:
                messages: list[Message] = []
                try:
                    body, messages = await _read(receive)
                    response = await route(scope, body)
                except _Handover:
                    receive = _replaying(messages, receive)
                else:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _send(self, scope: Scope, raw: bytes) -> Response:
        idempotency_key = _header(scope, b"idempotency-key")
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise _Handover  # FastAPI's 422 names the header
        try:
            data = json.loads(raw)  # as Starlette's Request.json()
            if not isinstance(data, dict):
                raise _Handover
            req = api.SendRequest.model_validate(data)
        except Exception:  # noqa: BLE001 - nothing done yet: FastAPI's 400 or 422 says what is wrong
            raise _Handover from None
        rt = self.rt
        try:
            # In the route's order: the key's form, then its org, then the send.
            token = deps.bearer_token(rt, _header(scope, b"authorization") or "")
            async with rt.pool.connection() as conn:
                org_id = await deps.org_of_token(rt, conn, token)
                status, body = await api.send(rt, conn, org_id, token, req, idempotency_key)
        except Exception as exc:  # noqa: BLE001 - answered as the app's exception handlers answer
            return errors.response_for(exc)
        # The connection is back in the pool: the row committed in api.send, before this answer.
        return JSONResponse(status_code=status, content=body)

    async def _status(self, scope: Scope, raw: bytes) -> Response:
        if not webhooks.is_form(_header(scope, b"content-type") or ""):
            raise _Handover  # Starlette's form parser (multipart and the like)
        query = scope.get("query_string", b"").decode("latin-1")
        if "#" in query:
            raise _Handover  # Starlette's URL would cut it there; let it
        try:
            params = webhooks.form_fields(raw)
            webhooks.verify(self.rt.settings, scope["path"], query, params, _header(scope, b"x-twilio-signature"))
            # The last value of a repeated parameter, as Starlette's query_params.get gives it.
            message_id = dict(parse_qsl(query, keep_blank_values=True)).get("messageId")
            await webhooks.apply_status(self.rt, params, message_id=message_id,
                                        idempotency_token=_header(scope, b"i-twilio-idempotency-token"))
        except Exception as exc:  # noqa: BLE001 - answered as the app's exception handlers answer
            return errors.response_for(exc)
        return Response(status_code=200)
