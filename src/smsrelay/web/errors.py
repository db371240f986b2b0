"""Every error leaves as JSON {"error": {"code", "message"}}, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import OperationalError
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from smsrelay.service import problems
from smsrelay.service.problems import Problem

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, **extra}},
                        headers=headers)


def _respond(problem: Problem, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=problem.status, content=problem.to_dict(), headers=headers)


def field_name(loc: tuple | list) -> str:
    """A pydantic error's location as the client wrote it: `body` for the message text, `to`,
    `messages.3.to`, a query parameter's name; "$" is the request body as a whole."""
    path = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    return ".".join(str(p) for p in path) or "$"


def validation_problem(errors: list[dict]) -> Problem:
    """422 invalid_request naming each field (`field`: the first), or 400 invalid_json when the
    body is not JSON at all (pydantic reports that as an error at a character position)."""
    for e in errors:
        if e.get("type") == "json_invalid":
            reason = str((e.get("ctx") or {}).get("error") or e.get("msg") or "malformed")
            position = e["loc"][-1] if isinstance(e["loc"][-1], int) else None
            return problems.INVALID_JSON(reason=f"{reason} at character {position}" if position is not None else reason)
    fields = [{"field": field_name(e["loc"]), "message": e["msg"]} for e in errors]
    first = fields[0] if fields else {"field": "$", "message": "invalid request"}
    return problems.INVALID_REQUEST(message=f"{first['field']}: {first['message']}", field=first["field"],
                                    fields=fields)


def problem_response(exc: Problem) -> JSONResponse:
    retry_after = exc.details.get("retryAfter")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return _respond(exc, headers)


def database_down_response(exc: Exception) -> JSONResponse:
    # Nothing was accepted: the client may retry safely (with its Idempotency-Key).
    log.warning("database unavailable: %s", type(exc).__name__)
    return _respond(problems.DATABASE_UNAVAILABLE(), {"Retry-After": "2"})


def unexpected_response(exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return _respond(problems.INTERNAL_ERROR())


def response_for(exc: Exception) -> JSONResponse:
    """What the handlers below answer for an exception a route raised (web/fast_routes.py, which
    runs its routes outside FastAPI's handlers, answers with it)."""
    if isinstance(exc, Problem):
        return problem_response(exc)
    if isinstance(exc, (OperationalError, PoolTimeout)):
        return database_down_response(exc)
    return unexpected_response(exc)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem):
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        return _respond(validation_problem(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        kind = {400: lambda: problems.BAD_REQUEST(message=str(exc.detail)), 401: problems.UNAUTHORIZED,
                404: lambda: problems.NOT_FOUND(what="resource"),
                405: lambda: problems.METHOD_NOT_ALLOWED(method=request.method, path=request.url.path),
                }.get(exc.status_code)
        if kind is not None:
            return _respond(kind(), headers=headers)
        return _error(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error",
                      str(exc.detail), headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(_: Request, exc: Exception):
        return database_down_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        return unexpected_response(exc)
