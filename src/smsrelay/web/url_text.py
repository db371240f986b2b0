"""Paths and query strings with text nothing can hold (NUL; see domain/text.py) are refused
before routing: no id or filter containing one can match a row, and PostgreSQL would refuse
the query with an error every route would otherwise have to translate."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from smsrelay.domain import text


class UrlTextGuard:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = _problem(scope)
            if problem:
                return await _refuse(send, *problem)
        await self.app(scope, receive, send)


def _problem(scope: Scope) -> tuple[str, str] | None:
    what = text.bad_character(scope["path"])
    if what:
        return "path", f"The path contains {what}."
    # As Starlette decodes it for the handlers.
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        what = text.bad_character(key) or text.bad_character(value)
        if what:
            name = key if not text.bad_character(key) else "?"
            return name, f"Query parameter '{name}' contains {what}."
    return None


async def _refuse(send: Send, field: str, message: str) -> None:
    body = json.dumps({"error": {"code": "invalid_characters", "message": message, "field": field}}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
