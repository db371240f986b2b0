"""Accept-time checks of recipient and content under the org's policies (the rules live in
domain/admission.py; this module only fetches what they need)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import admission, lint
from smsrelay.domain.phone import PhoneCheck
from smsrelay.service import problems
from smsrelay.store import sql


async def screen(conn: AsyncConnection, org: dict[str, Any], check: PhoneCheck, body: str,
                 body_optional: bool = False) -> list[dict[str, str]]:
    """Raise a 422 Problem when the org's policies refuse the message; otherwise return the
    findings that go back with the 202 (and into the message's "metadata")."""
    first = await sql.one(conn, "has_outbound_to", org_id=org["id"], to=check.e164) is None
    content = lint.lint(body, first_message_to_recipient=first)
    if body_optional:  # media or a content template carries the message (service/outbound/channels.py)
        content = lint.without(content, "empty_body")
    verdict = admission.screen(check, content, allowed_countries=org["allowedCountries"],
                               landline_policy=org["landlinePolicy"], content_policy=org["contentPolicy"])
    if verdict.refusal is not None:
        raise problems.refused(verdict.refusal)
    return verdict.findings_dicts()
