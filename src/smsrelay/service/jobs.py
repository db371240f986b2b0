"""Enqueueing background jobs on the caller's connection, inside the caller's transaction."""

from __future__ import annotations

import zlib
from datetime import datetime

from psycopg import AsyncConnection

from smsrelay.store import sql

SEND_TASK = "smsrelay.send_message"
FORWARD_TASK = "smsrelay.forward_inbound"
SEND_QUEUE = "sms"
WEBHOOK_QUEUE = "webhooks"


def send_lock(message_id: str) -> str:
    """procrastinate runs one job per lock at a time: never two sends of one message at once."""
    return f"send:{message_id}"


async def enqueue_send(conn: AsyncConnection, message_id: str, at: datetime | None = None) -> int:
    """Returns the job id (a throttled message keeps it, to be woken early if its limit changes)."""
    row = await sql.one(conn, "enqueue_job", queue=SEND_QUEUE, task=SEND_TASK, args={"message_id": message_id},
                        scheduled_at=at, lock=send_lock(message_id))
    return row["id"]


def forward_lock(org_id: str, message_id: str, slots: int) -> str:
    """procrastinate runs one job per lock at a time, in PostgreSQL across every worker: spreading
    an org's forwards over `slots` locks caps its forwards in flight at `slots`, while other
    orgs' forwards (other locks) are fetched past them."""
    return f"forward:{org_id}:{zlib.crc32(message_id.encode()) % slots}"


async def enqueue_forward(conn: AsyncConnection, message_id: str, org_id: str, slots: int) -> None:
    await sql.one(conn, "enqueue_job", queue=WEBHOOK_QUEUE, task=FORWARD_TASK, args={"message_id": message_id},
                  scheduled_at=None, lock=forward_lock(org_id, message_id, slots))
