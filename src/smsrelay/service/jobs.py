"""Enqueueing background work on the caller's connection, inside the caller's transaction: a send
is a "SendQueue" row (the send loop, service/outbound/send_queue.py), a forward a procrastinate job."""

from __future__ import annotations

import zlib
from datetime import datetime

from psycopg import AsyncConnection

from smsrelay.store import sql

FORWARD_TASK = "smsrelay.forward_inbound"
SEND_QUEUE = "sms"
WEBHOOK_QUEUE = "webhooks"


async def enqueue_send(conn: AsyncConnection, message_id: str, at: datetime | None = None) -> None:
    """Due at `at` (now by default), or earlier if already due earlier. One row per message: if a
    send of it is running, one more run follows that one (never a second beside it)."""
    await sql.execute(conn, "enqueue_send", message_id=message_id, at=at)


def forward_lock(org_id: str, message_id: str, slots: int) -> str:
    """procrastinate runs one job per lock at a time, in PostgreSQL across every worker: spreading
    an org's forwards over `slots` locks caps its forwards in flight at `slots`, while other
    orgs' forwards (other locks) are fetched past them."""
    return f"forward:{org_id}:{zlib.crc32(message_id.encode()) % slots}"


async def enqueue_forward(conn: AsyncConnection, message_id: str, org_id: str, slots: int) -> None:
    await sql.one(conn, "enqueue_job", queue=WEBHOOK_QUEUE, task=FORWARD_TASK, args={"message_id": message_id},
                  scheduled_at=None, lock=forward_lock(org_id, message_id, slots))
