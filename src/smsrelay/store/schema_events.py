"""The tables of migration 0020 (events orgs hear back), defined on store/schema.py's metadata:
the event outbox, its delivery log, the endpoints' state and the signing secrets."""

from __future__ import annotations

from sqlalchemy import (BigInteger, Column, Float, ForeignKey, Identity, Index, Integer, MetaData,
                        PrimaryKeyConstraint, Table, Text, text)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.dialects.postgresql import base as pg_base
from sqlalchemy.types import UserDefinedType

now = text("now()")
TS = TIMESTAMP(timezone=True)


class Xid8(UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw):
        return "xid8"


# So that reading the migrated schema back (tests/store/test_schema.py) knows the type.
pg_base.ischema_names.setdefault("xid8", Xid8)


def define(metadata: MetaData) -> tuple[Table, Table, Table, Table]:
    # An org's signing secrets: the current one ("expiresAt" NULL) and, after a rotation, the
    # previous one until its grace period ends. Kept apart from "OrgSettings", whose audit copies rows.
    WebhookSecret = Table(
        "WebhookSecret",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), nullable=False),
        Column("secret", Text, nullable=False),
        Column("createdAt", TS, nullable=False, server_default=now),
        Column("expiresAt", TS, nullable=True),
        Index("WebhookSecret_orgId_idx", "orgId"),
    )

    # One row per status change (written by the "MessageLog" statement triggers) or test event:
    # the events feed reads it, the delivery loop delivers it (state none | pending | delivered | failed).
    WebhookEvent = Table(
        "WebhookEvent",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("txid", Xid8(), nullable=False, server_default=text("pg_current_xact_id()")),
        Column("orgId", Text, nullable=False),
        Column("messageId", Text, nullable=True),
        Column("type", Text, nullable=False),
        Column("sequence", Integer, nullable=False, server_default=text("1")),
        Column("status", Text, nullable=True),
        Column("previousStatus", Text, nullable=True),
        Column("message", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("url", Text, nullable=True),
        Column("createdAt", TS, nullable=False, server_default=now),
        Column("state", Text, nullable=False, server_default=text("'none'")),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("nextAttemptAt", TS, nullable=True),
        Column("leaseUntil", TS, nullable=True),
        Column("deliveredAt", TS, nullable=True),
        Column("lastStatusCode", Integer, nullable=True),
        Column("lastError", Text, nullable=True),
        Column("lastLatencyMs", Float, nullable=True),
        Index("WebhookEvent_feed_idx", "orgId", "txid", "id"),
        Index("WebhookEvent_messageId_idx", "messageId", "sequence"),
        Index("WebhookEvent_pending_idx", "orgId", "nextAttemptAt", "id", postgresql_where=text("\"state\" = 'pending'")),
        Index("WebhookEvent_leased_idx", "orgId", postgresql_where=text('"leaseUntil" IS NOT NULL')),
        Index("WebhookEvent_received_body_idx", "createdAt",
              postgresql_where=text("\"type\" = 'message.received' AND \"message\" ? 'body'")),
    )

    # Every attempt to deliver an event: the delivery log an org and its operator read.
    WebhookDelivery = Table(
        "WebhookDelivery",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("eventId", BigInteger, ForeignKey("WebhookEvent.id", ondelete="CASCADE"), nullable=False),
        Column("orgId", Text, nullable=False),
        Column("attempt", Integer, nullable=False),
        Column("url", Text, nullable=False),
        Column("at", TS, nullable=False, server_default=now),
        Column("outcome", Text, nullable=False),
        Column("statusCode", Integer, nullable=True),
        Column("latencyMs", Float, nullable=False),
        Column("error", Text, nullable=True),
        Index("WebhookDelivery_eventId_idx", "eventId"),
    )

    # Each URL an org's events go to: 'failing' after repeated consecutive failures (the alert reads it).
    WebhookEndpoint = Table(
        "WebhookEndpoint",
        metadata,
        Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), nullable=False),
        Column("url", Text, nullable=False),
        Column("state", Text, nullable=False, server_default=text("'ok'")),
        Column("consecutiveFailures", Integer, nullable=False, server_default=text("0")),
        Column("firstFailureAt", TS, nullable=True),
        Column("failingSince", TS, nullable=True),
        Column("lastSuccessAt", TS, nullable=True),
        Column("lastFailureAt", TS, nullable=True),
        Column("lastError", Text, nullable=True),
        PrimaryKeyConstraint("orgId", "url"),
    )
    return WebhookSecret, WebhookEvent, WebhookDelivery, WebhookEndpoint
