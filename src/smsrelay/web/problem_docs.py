"""The error contract in the OpenAPI document, generated from service/problems.py so it cannot
drift from what the routes raise: one error body schema whose `code` lists every declared code,
each route's responses naming the codes it can answer (with an example of each), and the whole
table in the API's description."""

from __future__ import annotations

import string
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smsrelay.service.problems import DECLARED, ErrorKind


class ErrorBody(BaseModel):
    # Codes carry their own facts (field, fields, retryAfter, twilioEquivalent, ...).
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable; the table in the API description lists every code",
                      json_schema_extra={"enum": sorted(DECLARED)})
    message: str = Field(description="For people; may change wording")
    field: str | None = Field(default=None, description="The request field at fault, when one is: `body`, `to`, "
                                                        "`messages.3.to`, a query parameter; `$` is the whole body")


class ErrorResponse(BaseModel):
    error: ErrorBody


# What any route can answer, whatever it does: its caller, its limits, our side.
AUTHENTICATED = ("unauthorized", "rate_limited", "invalid_characters", "database_unavailable", "internal_error")
WITH_BODY = ("invalid_json", "unsupported_media_type", "body_too_large", "invalid_request")


def _example(kind: ErrorKind) -> dict[str, Any]:
    names = {f for _, f, _, _ in string.Formatter().parse(kind.message) if f}
    facts = {**{n: f"<{n}>" for n in names}, **kind.fixed}
    try:
        problem = kind(**facts)
    except (ValueError, TypeError):  # a number format (e.g. {seconds:.0f}) given a placeholder
        problem = kind(**{**facts, **{n: 10 for n in names if n not in kind.fixed}})
    return problem.to_dict()


def errors_for(*codes: str, body: bool = False) -> dict[int | str, dict[str, Any]]:
    """FastAPI `responses` for a route that can answer these codes (plus AUTHENTICATED, and
    WITH_BODY when it takes a JSON body), grouped by status, each code with an example."""
    wanted = list(dict.fromkeys((*codes, *AUTHENTICATED, *(WITH_BODY if body else ()))))
    by_status: dict[int, list[ErrorKind]] = defaultdict(list)
    for code in wanted:
        kind = DECLARED[code]  # KeyError: a route names a code problems.py does not declare
        by_status[kind.status].append(kind)
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted(by_status):
        kinds = by_status[status]
        out[status] = {
            "model": ErrorResponse,
            "description": "; ".join(f"`{k.code}`" for k in kinds),
            "content": {"application/json": {"examples": {k.code: {"value": _example(k)} for k in kinds}}},
        }
    return out


def table() -> str:
    """Every declared error as a Markdown table, for the API's description."""
    rows = ["| code | status | retry may succeed | message |", "| --- | --- | --- | --- |"]
    for code in sorted(DECLARED):
        kind = DECLARED[code]
        message = kind.message.replace("|", "\\|").replace("{", "‹").replace("}", "›")
        rows.append(f"| `{code}` | {kind.status} | {'yes' if kind.retryable else 'no'} | {message} |")
    return "\n".join(rows)
