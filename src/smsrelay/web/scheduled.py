"""Routes on scheduled and not-yet-sent messages: cancel one, count the scheduled ones
(service/outbound/scheduling.py decides)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from smsrelay.service.outbound import messages, scheduling
from smsrelay.web.problem_docs import errors_for
from smsrelay.web.channel_fields import Channel
from smsrelay.web.deps import Conn, OrgId

router = APIRouter(prefix="/v1", tags=["messages"])


@router.post("/messages/{message_id}/cancel", responses=errors_for("not_found", "message_not_cancelable"))
async def cancel_message(message_id: Annotated[str, Path(max_length=64)], org_id: OrgId, conn: Conn) -> dict:
    """Cancel a message not yet handed to Twilio (scheduled, or queued and not in flight): its
    status becomes canceled and it is never sent. 409 message_not_cancelable once it may be at Twilio."""
    row = await scheduling.cancel(conn, org_id, message_id)
    return messages.present(row)


class ScheduledCount(BaseModel):
    channel: Channel
    count: int
    nextAt: datetime | None
    lastAt: datetime | None


class ScheduledCounts(BaseModel):
    total: int
    channels: list[ScheduledCount]


@router.get("/messages:scheduled", response_model=ScheduledCounts, responses=errors_for())
async def scheduled_counts(org_id: OrgId, conn: Conn) -> dict:
    """How many of the org's messages wait for their sendAt, per channel, and when the next goes.
    GET /v1/messages?status=scheduled lists them."""
    rows = await scheduling.counts(conn, org_id)
    return {"total": sum(r["count"] for r in rows), "channels": rows}
