"""What diagnosis, the report and the dashboard say about templates: when content-filtering
failures (30007, 30004, every code the catalogue files under content_filtering) concentrate on
one template, which template and version, its share of those failures, its text and the lint
findings it was saved with, and the command that holds just that template.

Grouped by "MessageLog"."metadata"->>'templateId' and 'templateVersion', which sending by
template records (service/templates/sending.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import catalogue
from smsrelay.domain import templates as rules
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

CODES = tuple(sorted(str(e.code) for e in catalogue.CATALOGUE.values() if e.cause == "content_filtering"))
# One template "concentrates" the failures when it has at least this share of them (and a few).
CONCENTRATED_SHARE = 0.5
MIN_FAILURES = 3
MAX_LISTED = 5


async def involved(conn: AsyncConnection, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Templates (and versions) with content-filtering failures in the window, most first: their
    count, their share of all such failures (free text included), their text and findings."""
    rows = await sql.all(conn, "template_failures", codes=list(CODES), since=since, until=until)
    total = sum(r["count"] for r in rows)
    out = []
    for r in rows:
        if r["templateId"] is None or len(out) >= MAX_LISTED:
            continue
        t = await sql.one(conn, "template_by_id", id=r["templateId"], version=r["version"])
        if t is None:
            continue
        sent = (await sql.one(conn, "template_sent", org_id=r["orgId"], template_id=r["templateId"],
                              since=since, until=until))["total"]
        lint = t["lint"] or {}
        out.append({"orgId": r["orgId"], "templateId": r["templateId"], "template": t["name"], "version": r["version"],
                    "currentVersion": t["version"], "disabled": t["disabled"] is not None,
                    "failures": r["count"], "share": round(r["count"] / total, 4) if total else 0.0,
                    "sent": sent, "failureRate": round(r["count"] / sent, 4) if sent else 0.0,
                    "body": t["body"], "findings": lint.get("findings", []), "segments": lint.get("segments"),
                    "concentrated": r["count"] >= MIN_FAILURES and total > 0 and r["count"] / total >= CONCENTRATED_SHARE})
    return out


def disable_command(t: dict[str, Any]) -> str:
    return f'smsrelay template disable {t["orgId"]} {t["template"]} --reason "carrier filtering of this template"'


def annotate(causes: list[dict[str, Any]], templates: list[dict[str, Any]]) -> None:
    """Name the template in the content-filtering cause: first in its summary, its evidence
    and its actions (holding the template comes before disabling the whole org)."""
    top = next((t for t in templates if t["concentrated"]), None)
    cause = next((c for c in causes if c["cause"] == "content_filtering"), None)
    if top is None or cause is None:
        return
    pct = f"{100 * top['share']:.0f}%"
    cause["summary"] = f"Template {top['template']} v{top['version']} of {top['orgId']} is being filtered " \
                       f"({pct} of content-filtering failures). " + cause["summary"]
    findings = ", ".join(f["code"] for f in top["findings"]) or "none"
    cause["evidence"] = [f"template {top['template']} v{top['version']} (org {top['orgId']}): {top['failures']} of the "
                         f"content-filtering failures ({pct}); {100 * top['failureRate']:.0f}% of its "
                         f"{top['sent']} message(s) failed",
                         f"its text: {top['body']!r} (lint when saved: {findings})"] + cause["evidence"]
    if not top["disabled"]:
        cause["actions"] = [disable_command(top)] + cause["actions"]
    cause["templates"] = [t for t in templates if t["orgId"] == top["orgId"]]


async def for_diagnosis(rt: Runtime, since: datetime, until: datetime, causes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The diagnosis's hook: the templates involved, with the content-filtering cause annotated."""
    async with rt.pool.connection() as conn:
        templates = await involved(conn, since, until)
    annotate(causes, templates)
    return templates


async def report_lines(rt: Runtime, templates: list[dict[str, Any]]) -> list[str]:
    """The report's "Review message content templates" item: each template involved, its share,
    its text and findings, and what changed between its recent versions."""
    if not templates:
        return ["  - No template was involved in content-filtering failures in the window."]
    out = []
    async with rt.pool.connection() as conn:
        for t in templates:
            out.append(f"  - `{t['template']}` v{t['version']} (org {t['orgId']}): {t['failures']} failures, "
                       f"{100 * t['share']:.0f}% of content filtering; text: {t['body']!r}; findings: "
                       + (", ".join(f["code"] for f in t["findings"]) or "none"))
            versions = await sql.all(conn, "template_versions", template_id=t["templateId"], limit=4)
            for newer, older in zip(versions, versions[1:]):
                diff = "; ".join(rules.changes(older["body"], newer["body"])) or "no change in words"
                out.append(f"    - v{older['version']} → v{newer['version']}: {diff}")
    return out
