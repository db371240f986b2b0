"""Sending from a template: the request's template and variables become the body that is
stored and sent, and the "MessageLog" metadata that names the template and version
("templateId", "templateVersion", "template"), which the runbook's SQL can group by.

A template with WhatsApp content also answers what the send needs outside WhatsApp's 24-hour
window: its ContentSid and the ContentVariables filled from the same variables (CONTENT, taken
out of the metadata by `content_of` so it is never stored as such); the channel rules decide
whether it is used (service/outbound/channels.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import templates as rules
from smsrelay.domain import text
from smsrelay.service import problems
from smsrelay.service.problems import Problem
from smsrelay.service.templates.catalog import known
from smsrelay.store import sql

CONTENT = "whatsappContent"

_BY_KIND = {"missing": problems.TEMPLATE_VARIABLE_MISSING, "unexpected": problems.TEMPLATE_VARIABLE_UNEXPECTED,
            "invalid": problems.TEMPLATE_VARIABLE_INVALID}


def _render(row: dict[str, Any] | None, name: str, variables: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    if row is None:
        raise problems.TEMPLATE_NOT_FOUND(name=name)
    if row["archivedAt"] is not None:
        raise problems.TEMPLATE_ARCHIVED(name=name)
    for key, value in (variables or {}).items():
        if isinstance(value, str) and (what := text.bad_character(value)):
            raise problems.TEMPLATE_VARIABLE_INVALID(message=f"'{key}' contains {what}.", variable=key)
    try:
        body = rules.render(row["body"], variables)
    except rules.VariableError as exc:
        raise _BY_KIND[exc.kind](message=exc.message, variable=exc.variable) from None
    meta: dict[str, Any] = {"templateId": row["id"], "templateVersion": row["version"], "template": row["name"]}
    if row.get("whatsapp"):
        meta[CONTENT] = {"contentSid": row["whatsapp"]["contentSid"],
                         "contentVariables": rules.content_variables(row["body"], row["whatsapp"], variables)}
    return body, meta


def content_of(meta: dict[str, Any] | Problem | None) -> tuple[dict[str, Any] | Problem | None, dict[str, Any] | None]:
    """(the metadata to store, the template's WhatsApp content or None)."""
    if not isinstance(meta, dict) or CONTENT not in meta:
        return meta, None
    rest = dict(meta)
    return rest, rest.pop(CONTENT)


def _check_shape(body: str | None, template: str | None, variables: Mapping[str, Any] | None) -> None:
    if template is not None and body is not None:
        raise problems.TEMPLATE_WITH_BODY()
    if template is None and variables is not None:
        raise problems.VARIABLES_WITHOUT_TEMPLATE()


async def resolve(conn: AsyncConnection, org_id: str, *, body: str | None, template: str | None,
                  variables: Mapping[str, Any] | None) -> tuple[str | None, dict[str, Any] | None]:
    """(body, metadata) for one message: the request's own body and no metadata when it names
    no template; raises the 404/422 that names the template or the variable."""
    _check_shape(body, template, variables)
    if template is None:
        return body, None
    row = await sql.one(conn, "get_template", org_id=org_id, name=known(template))
    return _render(row, template, variables)


async def resolve_batch(conn: AsyncConnection, org_id: str,
                        items: Sequence[tuple[str | None, str | None, Mapping[str, Any] | None]]
                        ) -> list[tuple[str | None, dict[str, Any] | Problem | None]]:
    """resolve() for each (body, template, variables) of a batch, each template read once; a
    message whose template or variables are wrong carries its Problem, for its index alone."""
    rows: dict[str, dict[str, Any] | None] = {}
    out: list[tuple[str | None, dict[str, Any] | Problem | None]] = []
    for body, template, variables in items:
        try:
            _check_shape(body, template, variables)
            if template is None:
                out.append((body, None))
                continue
            if template not in rows:
                rows[template] = await sql.one(conn, "get_template", org_id=org_id, name=known(template))
            out.append(_render(rows[template], template, variables))
        except Problem as problem:
            out.append(("", problem))
    return out
