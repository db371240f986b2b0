"""An org's templates: create, edit (every edit a new version), archive, read.

A version may carry its WhatsApp content template ("whatsapp": the approved ContentSid and which
placeholder fills each content variable), checked against the body it goes with: a send by
template on WhatsApp goes as that content template outside the 24-hour window
(service/templates/sending.py, service/outbound/channels.py).

Each save runs the template check (domain/templates.py: the segment range over every value its
placeholders allow and the content lint); the org's content policy decides what a finding does,
as it does for a send: errors always refuse the save, warnings refuse it under "block" and are
answered with the saved template under "warn". Every write is recorded in "AuditLog".
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import ids, lint, text
from smsrelay.domain import templates as rules
from smsrelay.service import audit, problems
from smsrelay.store import sql
from smsrelay.domain.timestamps import iso as _iso

MAX_LIST = 500


def present(row: dict[str, Any]) -> dict[str, Any]:
    check = row["lint"] or {}
    disabled = row["disabled"]
    return {"id": row["id"], "name": row["name"], "version": row["version"], "body": row["body"],
            "placeholders": check.get("placeholders", []), "segments": check.get("segments"),
            "encoding": check.get("encoding"), "worstEncoding": check.get("worstEncoding"),
            "findings": check.get("findings", []), "whatsapp": row.get("whatsapp"),
            "archived": row["archivedAt"] is not None, "archivedAt": _iso(row["archivedAt"]),
            "disabled": disabled is not None, "disabledReason": (disabled or {}).get("reason"),
            "createdAt": _iso(row["createdAt"]), "updatedAt": _iso(row["updatedAt"])}


def known(name: str) -> str:
    """A name to look up: one that could never have been saved is simply not found (and never
    reaches a query, which a NUL in it would break)."""
    if not isinstance(name, str) or not rules.NAME.match(name):
        raise problems.TEMPLATE_NOT_FOUND(name=name)
    return name


def name_of(name: str) -> str:
    try:
        return rules.check_name(name)
    except rules.TemplateError as exc:
        raise problems.INVALID_TEMPLATE(message=str(exc)) from None


def whatsapp_of(body: str, whatsapp: Any) -> dict[str, Any] | None:
    try:
        return rules.check_whatsapp(body, whatsapp)
    except rules.TemplateError as exc:
        raise problems.INVALID_TEMPLATE(message=str(exc)) from None


# edit()'s "leave the WhatsApp content as it is" (None removes it).
KEEP: Any = object()


async def checked(conn: AsyncConnection, org_id: str, body: str) -> rules.Check:
    """The save-time check under the org's content policy; raises the refusal."""
    if isinstance(body, str) and (what := text.bad_character(body)):
        raise problems.INVALID_TEMPLATE(message=f"The body contains {what}.")
    try:
        result = rules.check(body if isinstance(body, str) else "")
    except rules.TemplateError as exc:
        raise problems.INVALID_TEMPLATE(message=str(exc)) from None
    policy = await sql.one(conn, "get_org_policy", org_id=org_id)
    if policy is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    stops = lint.blocking(result.findings, policy["contentPolicy"])
    if stops:
        listed = "; ".join(f"{f.code}: {f.message}" for f in stops)
        shown = result.to_dict()
        raise problems.TEMPLATE_CONTENT_BLOCKED(
            message=f"This org's content policy ({policy['contentPolicy']}) refuses the template: {listed}",
            findings=shown["findings"], segments=shown["segments"], policy=policy["contentPolicy"])
    return result


async def _audit(conn: AsyncConnection, org_id: str, action: str, actor: str, reason: str | None,
                 before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    await sql.execute(conn, "insert_audit", table_name="MessageTemplate", org_id=org_id, action=action,
                      actor=actor, reason=reason, before=before, after=after)


async def get(conn: AsyncConnection, org_id: str, name: str, *, versions: int = 0) -> dict[str, Any]:
    row = await sql.one(conn, "get_template", org_id=org_id, name=known(name))
    if row is None:
        raise problems.TEMPLATE_NOT_FOUND(name=name)
    out = present(row)
    if versions:
        out["versions"] = [{"version": v["version"], "body": v["body"], "segments": (v["lint"] or {}).get("segments"),
                            "findings": (v["lint"] or {}).get("findings", []), "whatsapp": v["whatsapp"],
                            "createdBy": v["createdBy"],
                            "createdAt": _iso(v["createdAt"])}
                           for v in await sql.all(conn, "template_versions", template_id=row["id"], limit=versions)]
    return out


async def search(conn: AsyncConnection, org_id: str, *, archived: bool = False,
                 limit: int = MAX_LIST) -> list[dict[str, Any]]:
    return [present(r) for r in await sql.all(conn, "list_templates", org_id=org_id, archived=archived, limit=limit)]


async def create(conn: AsyncConnection, org_id: str, name: str, body: str, *, actor: str,
                 whatsapp: dict[str, Any] | None = None) -> dict[str, Any]:
    name = name_of(name)
    async with conn.transaction():
        result = await checked(conn, org_id, body)
        whatsapp = whatsapp_of(body, whatsapp)
        created = await sql.one(conn, "insert_template", id=ids.new_id("tpl"), org_id=org_id, name=name)
        if created is None:
            raise problems.TEMPLATE_EXISTS(name=name)
        await sql.execute(conn, "insert_template_version", template_id=created["id"], version=1, body=body,
                          lint=result.to_dict(), whatsapp=whatsapp, created_by=actor)
        await _audit(conn, org_id, "create", actor, None, None,
                     {"name": name, "version": 1, "body": body, "whatsapp": whatsapp})
    return await get(conn, org_id, name)


async def edit(conn: AsyncConnection, org_id: str, name: str, body: str | None, *, actor: str,
               whatsapp: Any = KEEP) -> dict[str, Any]:
    """A new version (a new body, or new WhatsApp content, or both; None for either keeps the
    current one's, KEEP the content); messages already accepted keep the one they were rendered
    from."""
    async with conn.transaction():
        # Locked first: two edits at once get versions n+1 and n+2, each diffed against the other.
        if await sql.one(conn, "lock_template", org_id=org_id, name=known(name)) is None:
            raise problems.TEMPLATE_NOT_FOUND(name=name)
        current = await sql.one(conn, "get_template", org_id=org_id, name=name)
        body = current["body"] if body is None else body
        whatsapp = whatsapp_of(body, current["whatsapp"] if whatsapp is KEEP else whatsapp)
        if current["body"] == body and current["whatsapp"] == whatsapp:
            return present(current)
        result = await checked(conn, org_id, body)
        version = (await sql.one(conn, "bump_template_version", id=current["id"]))["version"]
        await sql.execute(conn, "insert_template_version", template_id=current["id"], version=version, body=body,
                          lint=result.to_dict(), whatsapp=whatsapp, created_by=actor)
        await _audit(conn, org_id, "edit", actor, None,
                     {"version": current["version"], "body": current["body"], "whatsapp": current["whatsapp"]},
                     {"version": version, "body": body, "whatsapp": whatsapp})
    return await get(conn, org_id, name)


async def set_archived(conn: AsyncConnection, org_id: str, name: str, archived: bool, *, actor: str,
                       reason: str | None = None) -> dict[str, Any]:
    """An archived template keeps its versions (messages name them) but sends nothing."""
    async with audit.change(conn, actor=actor, reason=reason) as cleaned:
        row = await sql.one(conn, "lock_template", org_id=org_id, name=known(name))
        if row is None:
            raise problems.TEMPLATE_NOT_FOUND(name=name)
        if (row["archivedAt"] is not None) != archived:
            await sql.one(conn, "set_template_archived", id=row["id"], archived=archived)
            await _audit(conn, org_id, "archive" if archived else "unarchive", actor, cleaned,
                         {"archived": not archived}, {"archived": archived})
    return await get(conn, org_id, name)
