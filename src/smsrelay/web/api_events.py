"""The org's side of events: the events feed, and its webhooks managed with its own API key
(URLs, signing secret, a test event, the delivery log, replays). Scoped by the key's org only:
another org's event answers 404 as a missing one does."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from smsrelay.service.events import feed, webhooks
from smsrelay.web.deps import Conn, OrgId
from smsrelay.web.problem_docs import errors_for

router = APIRouter(prefix="/v1", tags=["events"])

EventState = Literal["pending", "delivered", "failed"]


class EventPage(BaseModel):
    events: list[dict] = Field(description="Event bodies, exactly as delivered to webhooks, oldest first")
    next: str = Field(description="Opaque cursor: pass it as ?after= for the events that follow")
    hasMore: bool = Field(description="More events are already waiting after this page")


@router.get("/events", response_model=EventPage, responses=errors_for("invalid_cursor", "invalid_request"))
async def list_events(org_id: OrgId, conn: Conn, after: Annotated[str | None, Query(max_length=200)] = None,
                      limit: Annotated[int, Query(ge=1, le=feed.MAX_LIMIT)] = 100) -> dict:
    """The org's events (message status changes, inbound messages, test events), in a stable
    order, for orgs that poll instead of receiving webhooks. Order a message's events by
    `data.sequence`."""
    return await feed.page(conn, org_id, after=after, limit=limit)


class WebhookUrls(BaseModel):
    statusUrl: str | None = Field(default=None, max_length=2000,
                                  description="Where status events go (a message's statusCallback wins); null clears")
    inboundUrl: str | None = Field(default=None, max_length=2000,
                                   description="Where inbound messages are forwarded; null clears")


@router.get("/webhooks", responses=errors_for())
async def get_webhooks(org_id: OrgId, conn: Conn) -> dict:
    """The org's webhook URLs, its active signing secrets (when made and until when valid, never
    the secret itself) and each endpoint's state (ok or failing)."""
    return await webhooks.settings(conn, org_id)


@router.patch("/webhooks", responses=errors_for("invalid_webhook_url", body=True))
async def patch_webhooks(req: WebhookUrls, org_id: OrgId, conn: Conn) -> dict:
    """Change the URLs given in the body; a field left out stays as it is, null clears it."""
    given = req.model_dump(exclude_unset=True)
    kwargs = {"status_url": given["statusUrl"]} if "statusUrl" in given else {}
    if "inboundUrl" in given:
        kwargs["inbound_url"] = given["inboundUrl"]
    return await webhooks.update_urls(conn, org_id, actor=f"api:{org_id}", **kwargs)


class RotatedSecret(BaseModel):
    secret: str = Field(description="The new signing secret: shown this once")
    createdAt: str
    previousSecretValidUntil: str | None = Field(description="Until when the previous secret still signs deliveries")


@router.post("/webhooks/secret:rotate", response_model=RotatedSecret, responses=errors_for())
async def rotate_secret(request: Request, org_id: OrgId, conn: Conn) -> dict:
    """A new signing secret. During the grace period every delivery carries a signature under
    each of the two, so switching the receiver over needs no downtime."""
    grace = request.app.state.runtime.settings.webhook_secret_grace_hours * 3600
    return await webhooks.rotate_secret(conn, org_id, grace_seconds=grace, actor=f"api:{org_id}")


@router.post("/webhooks/test", status_code=202, responses=errors_for("no_webhook_url"))
async def send_test_event(org_id: OrgId, conn: Conn) -> dict:
    """A `webhook.test` event to the status URL, delivered and logged as any other."""
    return await webhooks.send_test(conn, org_id)


@router.get("/webhooks/deliveries", responses=errors_for("invalid_request"))
async def list_deliveries(org_id: OrgId, conn: Conn, state: EventState | None = None,
                          before: Annotated[str | None, Query(max_length=40, description="An eventId: older ones")] = None,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict:
    """Recent events that had an endpoint to go to, newest first, with their delivery state."""
    return {"deliveries": await webhooks.recent(conn, org_id, limit=limit, state=state, before=before)}


@router.get("/webhooks/deliveries/{event_id}", responses=errors_for("event_not_found"))
async def get_delivery(event_id: str, org_id: OrgId, conn: Conn) -> dict:
    """One event's delivery: every attempt (status, latency, error) and the body it carries."""
    return await webhooks.delivery(conn, org_id, event_id)


@router.post("/webhooks/deliveries/{event_id}:replay", status_code=202,
             responses=errors_for("event_not_found", "no_webhook_url"))
async def replay_delivery(event_id: str, org_id: OrgId, conn: Conn) -> dict:
    """Deliver the event again, now (at least once: the receiver dedupes by event id)."""
    return await webhooks.replay(conn, org_id, event_id, actor=f"api:{org_id}")
