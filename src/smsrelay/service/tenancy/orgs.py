"""Orgs, their sender numbers and API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from psycopg import AsyncConnection

from smsrelay.domain import ids
from smsrelay.service import audit, problems
from smsrelay.service.events import webhooks as webhook_secrets
from smsrelay.service.tenancy.senders import normalise
from smsrelay.store import sql

KEY_PREFIX = "sk_"


# KEY_PREFIX + secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_KEY_SHAPE = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{43}")


def could_be_key(value: str) -> bool:
    """True if `value` has the shape of a key we issue: anything else is refused unlooked-up."""
    return _KEY_SHAPE.fullmatch(value) is not None


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedOrg:
    id: str
    name: str
    api_key: str
    numbers: list[str]
    # Signs every event delivered to the org's endpoints: shown this once, never by the API.
    signing_secret: str = ""


async def create_org(conn: AsyncConnection, name: str, *, numbers: list[str] = (), messaging_service_sid: str | None = None,
                     default_region: str = "US", inbound_webhook_url: str | None = None, help_text: str | None = None,
                     actor: str = "cli") -> CreatedOrg:
    if not name.strip():
        raise problems.INVALID_NAME()
    # A whatsapp:+E164 sender is added like a number (service/tenancy/senders.py).
    kinds = dict(normalise(raw, default_region) for raw in numbers)
    normalised = list(kinds)
    org_id = ids.new_id("org")
    async with audit.change(conn, actor=actor, reason=None, default_reason="org created"):
        await sql.one(conn, "insert_org", id=org_id, name=name.strip())
        # The current signing secret lives in "WebhookSecret" (rotations never touch "OrgSettings",
        # whose audit trigger copies whole rows); the old column keeps signing the forwards
        # procrastinate enqueued before migration 0020 (service/delivery/inbound.py `forward`).
        signing_secret = webhook_secrets.new_secret()
        await sql.one(conn, "insert_org_settings", org_id=org_id, default_region=default_region,
                      inbound_webhook_url=inbound_webhook_url, inbound_webhook_secret=signing_secret,
                      help_text=help_text)
        await sql.execute(conn, "insert_webhook_secret", org_id=org_id, secret=signing_secret)
        for number in normalised:
            if await sql.one(conn, "org_by_number", number=number):
                raise problems.NUMBER_TAKEN(number=number)
            await sql.one(conn, "insert_phone_number", id=ids.new_id("num"), org_id=org_id, number=number,
                          messaging_service_sid=None, kind=kinds[number])
        if messaging_service_sid:
            await sql.one(conn, "insert_phone_number", id=ids.new_id("num"), org_id=org_id, number=None,
                          messaging_service_sid=messaging_service_sid, kind="messaging_service")
        api_key = await issue_key(conn, org_id, name="default")
    return CreatedOrg(id=org_id, name=name.strip(), api_key=api_key, numbers=normalised, signing_secret=signing_secret)


async def issue_key(conn: AsyncConnection, org_id: str, *, name: str | None = None) -> str:
    """Returns the key once; only its hash is stored."""
    return (await issue_key_row(conn, org_id, name=name))[0]


async def issue_key_row(conn: AsyncConnection, org_id: str, *, name: str | None = None) -> tuple[str, dict]:
    """The new key (shown once) and its stored row (id, orgId, prefix, name, createdAt)."""
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = await sql.one(conn, "insert_api_key", id=ids.new_id("key"), org_id=org_id, key_hash=hash_key(api_key),
                        prefix=api_key[:8], name=name)
    assert row is not None
    return api_key, row


async def list_keys(conn: AsyncConnection, org_id: str) -> list[dict]:
    await get_org(conn, org_id)
    return await sql.all(conn, "list_api_keys", org_id=org_id)


async def revoke_key(conn: AsyncConnection, org_id: str, key_id: str) -> None:
    if await sql.one(conn, "revoke_org_api_key", id=key_id, org_id=org_id) is None:
        raise problems.KEY_NOT_FOUND(key_id=key_id, org_id=org_id)


async def get_org(conn: AsyncConnection, org_id: str) -> dict:
    org = await sql.one(conn, "get_org", org_id=org_id)
    if org is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return org


async def resolve_org(conn: AsyncConnection, ref: str) -> str:
    """The id of the org an operator named by its id or its name. An id wins over a name; a name
    several orgs share is refused with their ids, never one picked for the operator."""
    found = await sql.all(conn, "orgs_by_id_or_name", ref=ref)
    if found and found[0]["id"] == ref:
        return ref
    if not found:
        raise problems.ORG_NOT_FOUND("id_or_name", org_id=ref)
    if len(found) > 1:
        raise problems.ORG_NAME_AMBIGUOUS(count=len(found), name=ref.strip(),
                                          candidates=", ".join(f"{o['id']} ({o['name']})" for o in found))
    return found[0]["id"]


async def list_orgs(conn: AsyncConnection) -> list[dict]:
    """Every org, oldest first, with its senders, mitigations and number of live API keys."""
    return await sql.all(conn, "list_orgs_overview")
