"""An org's senders beyond its first ones: a phone number, or a WhatsApp sender spelled as
Twilio spells it (`whatsapp:+E164`), added like a number (`smsrelay org number add`), and the
per-channel switches ("smsDisabled" keeps meaning SMS; "mmsDisabled", "whatsappDisabled")."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from smsrelay.domain import channels, ids, phone
from smsrelay.service import audit, problems
from smsrelay.store import sql


def normalise(raw: str, region: str) -> tuple[str, str]:
    """(number as stored, kind) for a sender: E.164, or whatsapp:+E164 (kind "whatsapp")."""
    check = phone.check(channels.bare(raw.strip()), region)
    if not check.valid or not check.e164:
        raise problems.INVALID_NUMBER(raw=raw, reason=check.reason)
    if channels.is_whatsapp(raw.strip()):
        return channels.whatsapp_address(check.e164), "whatsapp"
    return check.e164, phone.sender_kind(check.e164)


async def add_number(conn: AsyncConnection, org_id: str, raw: str, *, actor: str) -> dict[str, Any]:
    """Add a sender to an existing org; 409 when another org (or this one) already has it."""
    async with audit.change(conn, actor=actor, reason=None, default_reason="sender added"):
        org = await sql.one(conn, "org_for_send", org_id=org_id)
        if org is None:
            raise problems.ORG_NOT_FOUND(org_id=org_id)
        number, kind = normalise(raw, org["defaultRegion"])
        if await sql.one(conn, "org_by_number", number=number):
            raise problems.NUMBER_TAKEN(number=number)
        # The first sender of its channel is that channel's default; a later one is not.
        same_channel = [s for s in org["senders"] if channels.is_whatsapp(s["number"]) == (kind == "whatsapp")]
        row = await sql.one(conn, "insert_sender", id=ids.new_id("num"), org_id=org_id, number=number, kind=kind,
                            is_default=not same_channel)
    return {"orgId": org_id, "number": row["number"], "kind": row["kind"], "isDefault": row["isDefault"]}


async def set_channel_disabled(conn: AsyncConnection, org_id: str, channel: str, disabled: bool, *, actor: str,
                               reason: str | None) -> dict[str, Any]:
    """Hold (or release) one channel of one org: `smsrelay org disable ORG --channel whatsapp`."""
    if channel not in channels.CHANNELS:
        raise problems.INVALID_CHANNEL(message=f"channel is one of {', '.join(channels.CHANNELS)}.", field="channel")
    async with audit.change(conn, actor=actor, reason=reason):
        row = await sql.one(conn, "set_channel_disabled", org_id=org_id, channel=channel, disabled=disabled)
    if row is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return dict(row)
