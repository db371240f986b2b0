"""The shape of the rows the send path reads: accept, the worker's dispatch, status callbacks.

psycopg's dict_row hands back plain dicts; these TypedDicts only tell a reader (and a type
checker, through sql.py's overloads) which keys a query's row has and what they hold, at no
cost at run time. tests/store/test_rows.py asks PostgreSQL for each typed query's columns and
checks them against these declarations, so they cannot drift from the SQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

# A whole "MessageLog" row (get_message, lock_message, update_message);
# it has a column named "from", hence the functional syntax.
Message = TypedDict("Message", {
    "id": str,
    "orgId": str,
    "channel": str,
    "direction": str,
    "status": str,
    "from": str | None,
    "to": str,
    "content": str | None,
    "segments": int,
    "encoding": str,
    "twilioSid": str | None,
    "metadata": dict[str, Any],
    "createdAt": datetime,
    "updatedAt": datetime,
    "sentAt": datetime | None,
    "finalAt": datetime | None,
    "sendAt": datetime | None,
    "price": Decimal | None,
    "priceUnit": str | None,
})


class StatusApplied(TypedDict):
    """apply_status_callback(s): the event was new, its message known, its status applied."""

    stored: bool
    found: bool
    applied: bool


class MessageEvent(TypedDict):
    id: int
    status: str
    errorCode: str | None
    payload: dict[str, Any]
    receivedAt: datetime


class Org(TypedDict):
    """get_org: the "Org" row with its "OrgSettings"."""

    id: str
    name: str
    createdAt: datetime
    smsDisabled: bool
    maxMessagesPerMinute: int | None
    defaultRegion: str
    inboundWebhookUrl: str | None
    inboundWebhookSecret: str | None
    helpText: str | None
    contentPolicy: str
    landlinePolicy: str
    allowedCountries: list[str] | None
    validityPeriodSeconds: int
    dailySendCap: int | None


class Sender(TypedDict):
    number: str | None
    messagingServiceSid: str | None
    kind: str


class OrgForSend(Org):
    """org_for_send: get_org plus its senders, default first, and the other channels' switches
    (what a send's accepting answer says holds it: service/outbound/held_on_accept.py)."""

    mmsDisabled: bool
    whatsappDisabled: bool
    senders: list[Sender]


class ApiKeyHit(TypedDict):
    """authenticate_and_count: the key and this request's count in its minute."""

    id: str
    orgId: str
    count: int


class Idempotency(TypedDict):
    orgId: str
    key: str
    requestHash: str
    responseStatus: int
    responseBody: Any
    createdAt: datetime


class IdempotencyStored(TypedDict):
    """insert_idempotency: a row only if this request won the key."""

    orgId: str


class JobsDeferred(TypedDict):
    jobs: int


class NewId(TypedDict):
    """The generated id of a job (enqueue_job) or a send slot."""

    id: int


class OptedOut(TypedDict):
    opted_out: int


class BatchOptedOut(TypedDict):
    phone: str


class Messaged(TypedDict):
    """has_outbound_to; batch_messaged names the recipient instead (BatchMessaged)."""

    sent: int


class BatchMessaged(TypedDict):
    to: str


class SidTaken(TypedDict):
    taken: int


class OutboundCount(TypedDict):
    n: int


class SystemSetting(TypedDict):
    value: Any


class RateState(TypedDict):
    """rate_state: the org's send window as the throttle decides on it."""

    now: datetime
    recent: int
    horizon: datetime | None
    freeAt: datetime | None
    plannedAt: datetime | None
    plannedPerMinute: int | None
