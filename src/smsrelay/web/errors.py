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


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem):
        retry_after = exc.details.get("retryAfter")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return _respond(exc, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        fields = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                  for e in exc.errors()]
        first = fields[0] if fields else {"field": "", "message": "invalid request"}
        return _respond(problems.INVALID_REQUEST(message=f"{first['field']}: {first['message']}".strip(": "),
                                                 fields=fields))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
                401: "unauthorized"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(_: Request, exc: Exception):
        # Nothing was accepted: the client may retry safely (with its Idempotency-Key).
        log.warning("database unavailable: %s", type(exc).__name__)
        return _respond(problems.DATABASE_UNAVAILABLE(), {"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("unhandled error")
        return _respond(problems.INTERNAL_ERROR())
