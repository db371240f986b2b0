"""An org's webhooks, as the org (its API key) and its operators (CLI, dashboard) manage them:
the status and inbound URLs, the signing secret (shown once, when made), a test event, the
delivery log and replays. Every call is scoped by the org id its caller was given; another org's
event answers as a missing one."""

from __future__ import annotations

import secrets as random_secrets
from typing import Any

import httpx
from psycopg import AsyncConnection

from smsrelay.domain import webhook_events
from smsrelay.service import audit, problems
from smsrelay.store import sql
from smsrelay.domain.timestamps import iso as _iso

MAX_URL = 2000
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + random_secrets.token_urlsafe(32)


def check_url(field: str, url: str | None) -> str | None:
    """None or '' clears; otherwise an http(s) URL with a host. Whether its address may be called
    (SSRF) is decided at each delivery, when the name is resolved (org_webhook.py)."""
    if url is None or url == "":
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise problems.INVALID_WEBHOOK_URL(field=field) from None
    if len(url) > MAX_URL or parsed.scheme not in ("http", "https") or not parsed.host:
        raise problems.INVALID_WEBHOOK_URL(field=field)
    return url


async def settings(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    row = await sql.one(conn, "org_webhook_settings", org_id=org_id)
    if row is None:
        raise problems.ORG_NOT_FOUND(org_id=org_id)
    return {"statusUrl": row["statusWebhookUrl"], "inboundUrl": row["inboundWebhookUrl"],
            "signingSecrets": [{"createdAt": _iso(s["createdAt"]), "expiresAt": _iso(s["expiresAt"])}
                               for s in row["secrets"]],
            "endpoints": [{"url": e["url"], "state": e["state"], "consecutiveFailures": e["consecutiveFailures"],
                           "failingSince": _iso(e["failingSince"]), "lastSuccessAt": _iso(e["lastSuccessAt"]),
                           "lastFailureAt": _iso(e["lastFailureAt"]), "lastError": e["lastError"]}
                          for e in row["endpoints"]]}


_UNSET: Any = object()


async def update_urls(conn: AsyncConnection, org_id: str, *, status_url: Any = _UNSET, inbound_url: Any = _UNSET,
                      actor: str, reason: str | None = None) -> dict[str, Any]:
    """Only the URLs given change; None clears one. Audited by "OrgSettings"' trigger."""
    params = dict(org_id=org_id, set_status=status_url is not _UNSET, set_inbound=inbound_url is not _UNSET,
                  status_url=None if status_url is _UNSET else check_url("statusUrl", status_url),
                  inbound_url=None if inbound_url is _UNSET else check_url("inboundUrl", inbound_url))
    async with audit.change(conn, actor=actor, reason=reason, default_reason="webhook URLs changed"):
        if await sql.one(conn, "update_webhook_urls", **params) is None:
            raise problems.ORG_NOT_FOUND(org_id=org_id)
    return await settings(conn, org_id)


async def rotate_secret(conn: AsyncConnection, org_id: str, *, grace_seconds: float, actor: str,
                        reason: str | None = None) -> dict[str, Any]:
    """A new current secret, returned this once; the previous one keeps verifying for
    `grace_seconds`. The audit row says when and who, never the secret."""
    secret = new_secret()
    async with audit.change(conn, actor=actor, reason=reason, default_reason="webhook secret rotated") as cleaned:
        if await sql.one(conn, "get_org", org_id=org_id) is None:
            raise problems.ORG_NOT_FOUND(org_id=org_id)
        row = await sql.one(conn, "rotate_webhook_secret", org_id=org_id, secret=secret, grace_seconds=grace_seconds)
        after = {"previousSecretValidUntil": _iso(row["previousExpiresAt"])}
        await sql.execute(conn, "insert_audit", table_name="WebhookSecret", org_id=org_id, action="rotate",
                          actor=actor, reason=cleaned or "webhook secret rotated", before=None, after=after)
    return {"secret": secret, "createdAt": _iso(row["createdAt"]), **after}


async def send_test(conn: AsyncConnection, org_id: str) -> dict[str, Any]:
    """A webhook.test event to the org's status URL, delivered (signed, logged) as any other."""
    current = await settings(conn, org_id)
    if not current["statusUrl"]:
        raise problems.NO_WEBHOOK_URL(which="status")
    row = await sql.one(conn, "insert_test_event", org_id=org_id, url=current["statusUrl"])
    return {"eventId": webhook_events.event_id(row["id"]), "url": row["url"], "state": row["state"]}


def present_delivery(row: dict[str, Any]) -> dict[str, Any]:
    return {"eventId": webhook_events.event_id(row["id"]), "type": row["type"], "messageId": row["messageId"],
            "sequence": row["sequence"], "status": row["status"], "url": row["url"], "state": row["state"],
            "attempts": row["attempts"], "createdAt": _iso(row["createdAt"]),
            "nextAttemptAt": _iso(row["nextAttemptAt"]) if row["state"] == "pending" else None,
            "deliveredAt": _iso(row["deliveredAt"]), "lastStatusCode": row["lastStatusCode"],
            "lastError": row["lastError"], "lastLatencyMs": row["lastLatencyMs"]}


async def recent(conn: AsyncConnection, org_id: str, *, limit: int = 50, state: str | None = None,
                 before: str | None = None) -> list[dict[str, Any]]:
    before_id = webhook_events.row_id(before) if before else None
    rows = await sql.all(conn, "recent_webhook_deliveries", org_id=org_id, limit=limit, state=state,
                         before_id=before_id)
    return [present_delivery(r) for r in rows]


async def _event(conn: AsyncConnection, org_id: str, event_id: str) -> dict[str, Any]:
    row_id = webhook_events.row_id(event_id)
    row = None if row_id is None else await sql.one(conn, "org_webhook_event", id=row_id, org_id=org_id)
    if row is None:
        raise problems.EVENT_NOT_FOUND(event_id=event_id)
    return row


async def delivery(conn: AsyncConnection, org_id: str, event_id: str) -> dict[str, Any]:
    """One event's delivery with every attempt, and the body it carries."""
    row = await _event(conn, org_id, event_id)
    attempts = await sql.all(conn, "webhook_event_attempts", event_id=row["id"])
    return {**present_delivery(row), "event": webhook_events.body(row),
            "attemptLog": [{"attempt": a["attempt"], "url": a["url"], "at": _iso(a["at"]), "outcome": a["outcome"],
                            "statusCode": a["statusCode"], "latencyMs": a["latencyMs"], "error": a["error"]}
                           for a in attempts]}


async def replay(conn: AsyncConnection, org_id: str, event_id: str, *, actor: str,
                 reason: str | None = None) -> dict[str, Any]:
    """Deliver an event again (whatever became of it), now, to its URL (or the org's, if it had none)."""
    row = await _event(conn, org_id, event_id)
    async with audit.change(conn, actor=actor, reason=reason, default_reason="webhook event replayed") as cleaned:
        done = await sql.one(conn, "replay_webhook_event", id=row["id"], org_id=org_id)
        if done is None:
            raise problems.NO_WEBHOOK_URL(which="inbound" if row["type"] == webhook_events.RECEIVED else "status")
        await sql.execute(conn, "insert_audit", table_name="WebhookEvent", org_id=org_id, action="replay",
                          actor=actor, reason=cleaned or "webhook event replayed", before={"state": row["state"]},
                          after={"eventId": event_id, "url": done["url"]})
    return {"eventId": event_id, "url": done["url"], "state": done["state"]}
