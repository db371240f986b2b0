"""The tables of the features built on the core schema (schema.py): message templates, the
incident autopilot, the events orgs hear back (schema_events.py), spend (schema_spend.py), and what the later features add. They live on schema's `metadata`, so
Alembic and the schema test see one schema; this module only keeps schema.py a readable size.
Importers of the whole schema (migrations/env.py, the schema test) import `metadata` from here.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, Table, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB

from smsrelay.store import schema_events, schema_spend
from smsrelay.store.schema import TS, metadata, now

__all__ = ["metadata"]

# --- message templates (0022): every edit a new version; "disabled" holds its messages (guards.py)
MessageTemplate = Table(
    "MessageTemplate", metadata,
    Column("id", Text, primary_key=True),
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("archivedAt", TS, nullable=True),
    Column("disabled", JSONB, nullable=True),
    Column("createdAt", TS, nullable=False, server_default=now), Column("updatedAt", TS, nullable=False, server_default=now),
    UniqueConstraint("orgId", "name", name="MessageTemplate_orgId_name_key"),
)
MessageTemplateVersion = Table(
    "MessageTemplateVersion", metadata,
    Column("templateId", Text, ForeignKey("MessageTemplate.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("lint", JSONB, nullable=False),
    Column("whatsapp", JSONB, nullable=True),  # 0026: its WhatsApp content template, outside the window
    Column("createdBy", Text, nullable=False),
    Column("createdAt", TS, nullable=False, server_default=now),
    PrimaryKeyConstraint("templateId", "version"),
)

# --- the incident autopilot (0018): its actions; a live "hold" is a guard (send_facts), audited
AutopilotAction = Table(
    "AutopilotAction", metadata,
    Column("id", Text, primary_key=True), Column("cause", Text, nullable=False), Column("kind", Text, nullable=False),
    Column("scopeKind", Text, nullable=False), Column("scopeValue", Text), Column("orgId", Text),
    Column("dryRun", Boolean, nullable=False, server_default=text("false")), Column("state", Text, nullable=False),
    Column("reason", Text, nullable=False), Column("widened", Boolean, nullable=False, server_default=text("false")),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")), Column("probeMessageId", Text),
    Column("createdAt", TS, nullable=False, server_default=now), Column("updatedAt", TS, nullable=False, server_default=now),
    Column("endedAt", TS), Column("endedBy", Text),
    Index("AutopilotAction_createdAt_idx", "createdAt"),
    Index("AutopilotAction_live_idx", "scopeKind", "scopeValue",
          postgresql_where=text("\"kind\" = 'hold' AND NOT \"dryRun\" AND \"endedAt\" IS NULL")),
)

# --- events orgs hear back (0020): the outbox, its delivery log, endpoints' state, signing secrets
WebhookSecret, WebhookEvent, WebhookDelivery, WebhookEndpoint = schema_events.define(metadata)

# --- spend (0030): destination prices, per-org spend caps and the ledger they are counted on
DestinationPrice, OrgSpendPolicy, OrgSpendDay = schema_spend.define(metadata)
# The price fetch's work list: final messages with a sid and no price yet (a handful at a time).
schema_spend.unpriced_index(metadata.tables["MessageLog"])
