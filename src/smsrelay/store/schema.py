"""The database schema, named exactly as the operators' runbook spells it.

The runbook's SQL runs verbatim against these tables, so table and column names are quoted
camelCase ("MessageLog"."orgId"), and indexes follow the runbook's WHERE clauses. Alembic
migrations are written by hand from this module; it is the single description of the schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TIMESTAMP

metadata = MetaData()

now = text("now()")
TS = TIMESTAMP(timezone=True)

Org = Table(
    "Org",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("createdAt", TS, nullable=False, server_default=now),
)

OrgSettings = Table(
    "OrgSettings",
    metadata,
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), primary_key=True),
    Column("smsDisabled", Boolean, nullable=False, server_default=text("false")),
    Column("maxMessagesPerMinute", Integer, nullable=True),
    Column("defaultRegion", Text, nullable=False, server_default=text("'US'")),
    Column("inboundWebhookUrl", Text, nullable=True),
    Column("inboundWebhookSecret", Text, nullable=True),
    Column("helpText", Text, nullable=True),
    # 'warn' or 'block': what content findings do to a send.
    Column("contentPolicy", Text, nullable=False, server_default=text("'warn'")),
    Column("landlinePolicy", Text, nullable=False, server_default=text("'warn'")),
    # NULL = any country; otherwise ISO regions a recipient may be in.
    Column("allowedCountries", ARRAY(Text), nullable=True),
    # Twilio's own queue holds a message for 10 hours (36000 s) before it expires.
    Column("validityPeriodSeconds", Integer, nullable=False, server_default=text("36000")),
    Column("dailySendCap", Integer, nullable=True),
    Column("updatedAt", TS, nullable=False, server_default=now),
    # Where the org's message status events go, unless a message names its own (migration 0020).
    Column("statusWebhookUrl", Text, nullable=True),
    # Per channel (migration 0023): "smsDisabled" keeps meaning SMS, as the runbook says.
    Column("mmsDisabled", Boolean, nullable=False, server_default=text("false")),
    Column("whatsappDisabled", Boolean, nullable=False, server_default=text("false")),
)

PhoneNumber = Table(
    "PhoneNumber",
    metadata,
    Column("id", Text, primary_key=True),
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), nullable=False),
    Column("number", Text, nullable=True, unique=True),
    Column("messagingServiceSid", Text, nullable=True),
    Column("kind", Text, nullable=False, server_default=text("'long_code'")),
    Column("isDefault", Boolean, nullable=False, server_default=text("true")),
    Column("createdAt", TS, nullable=False, server_default=now),
    Index("PhoneNumber_orgId_idx", "orgId"),
)

ApiKey = Table(
    "ApiKey",
    metadata,
    Column("id", Text, primary_key=True),
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), nullable=False),
    # SHA-256 of the whole key: keys are 256-bit random, so a fast hash is safe and lets us
    # look a key up by its hash on every request.
    Column("keyHash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("name", Text, nullable=True),
    Column("createdAt", TS, nullable=False, server_default=now),
    Column("revokedAt", TS, nullable=True),
)

MessageLog = Table(
    "MessageLog",
    metadata,
    Column("id", Text, primary_key=True),
    Column("orgId", Text, ForeignKey("Org.id"), nullable=False),
    Column("channel", Text, nullable=False, server_default=text("'sms'")),
    Column("direction", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("from", Text, nullable=True),
    Column("to", Text, nullable=False),
    Column("content", Text, nullable=True),
    Column("segments", Integer, nullable=False, server_default=text("1")),
    Column("encoding", Text, nullable=False, server_default=text("'GSM-7'")),
    Column("twilioSid", Text, nullable=True, unique=True),
    Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("createdAt", TS, nullable=False, server_default=now),
    Column("updatedAt", TS, nullable=False, server_default=now),
    Column("sentAt", TS, nullable=True),
    Column("finalAt", TS, nullable=True),
    # A scheduled send's time (migration 0023): its "SendQueue" row is due then.
    Column("sendAt", TS, nullable=True),
    Column("price", Numeric(12, 5)), Column("priceUnit", Text),  # Twilio's, once final (0030; schema_spend.py)
    # Runbook steps 1, 2 and 4 filter on direction + createdAt and group by status/orgId;
    # diagnose also groups by sender number.
    Index("MessageLog_direction_createdAt_idx", "direction", "createdAt",
          postgresql_include=["status", "orgId", "from"]),
    Index("MessageLog_direction_status_createdAt_idx", "direction", "status", "createdAt"),
    Index("MessageLog_orgId_createdAt_idx", "orgId", "createdAt"),
    Index("MessageLog_to_idx", "to"),
    # Reconciliation and queue-depth look only at messages not yet final.
    Index(
        "MessageLog_open_idx",
        "createdAt",
        postgresql_where=text(
            "\"direction\" = 'outbound' AND \"status\" IN ('queued','sending','accepted','scheduled','sent')"
        ),
    ),
    # The WhatsApp 24-hour window: the person's last inbound message to the org (migration 0023).
    Index("MessageLog_whatsapp_inbound_idx", "orgId", "from", "createdAt",
          postgresql_where=text("\"direction\" = 'inbound' AND \"channel\" = 'whatsapp'")),
)

MessageEvent = Table(
    "MessageEvent",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("messageId", Text, nullable=True),
    Column("twilioSid", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("errorCode", Text, nullable=True),
    Column("idempotencyToken", Text, nullable=True),
    Column("payload", JSONB, nullable=False),
    Column("receivedAt", TS, nullable=False, server_default=now),
    # One row per distinct event: a retried or duplicated callback is the same event.
    UniqueConstraint("twilioSid", "status", name="MessageEvent_sid_status_key"),
    Index("MessageEvent_messageId_idx", "messageId"),
    Index("MessageEvent_unpurged_receivedAt_idx", "receivedAt", postgresql_where=text("\"payload\" <> '{}'::jsonb")),
    Index(
        "MessageEvent_token_key",
        "idempotencyToken",
        unique=True,
        postgresql_where=text('"idempotencyToken" IS NOT NULL'),
    ),
)

OptOut = Table(
    "OptOut",
    metadata,
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), primary_key=True),
    Column("phone", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("createdAt", TS, nullable=False, server_default=now),
)

IdempotencyKey = Table(
    "IdempotencyKey",
    metadata,
    Column("orgId", Text, ForeignKey("Org.id", ondelete="CASCADE"), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("requestHash", Text, nullable=False),
    Column("responseStatus", Integer, nullable=False),
    Column("responseBody", JSONB, nullable=False),
    Column("createdAt", TS, nullable=False, server_default=now),
    Index("IdempotencyKey_createdAt_idx", "createdAt"),
)

AuditLog = Table(
    "AuditLog",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("tableName", Text, nullable=False),
    Column("orgId", Text, nullable=True),
    Column("action", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Column("createdAt", TS, nullable=False, server_default=now),
    Index("AuditLog_createdAt_idx", "createdAt"),
)

# Runtime switches shared by every process (e.g. the kill switch that needs no restart).
SystemSetting = Table(
    "SystemSetting",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", JSONB, nullable=False),
    Column("updatedAt", TS, nullable=False, server_default=now),
)

# --- guardrails ------------------------------------------------------------------------------

# One row per send of an org (and one per reserved future time of a throttled message): the
# sliding window behind "maxMessagesPerMinute", shared by every worker process and machine.
SendSlot = Table(
    "SendSlot",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("orgId", Text, nullable=False),
    Column("messageId", Text, nullable=False),
    Column("at", TS, nullable=False),
    # When Twilio answered: the send occupies the window from "at" to here (NULL: in flight).
    Column("doneAt", TS, nullable=True),
    # true: a reservation a throttled message waits for; false: a send that happened.
    Column("planned", Boolean, nullable=False, server_default=text("false")),
    # The limit the row was planned under: a plan made under another limit is re-planned.
    Column("perMinute", Integer, nullable=True),
    Column("jobId", BigInteger, nullable=True),
    Index("SendSlot_orgId_at_idx", "orgId", "at"),
    Index("SendSlot_at_idx", "at"),
    Index("SendSlot_planned_key", "messageId", unique=True, postgresql_where=text('"planned"')),
)

# --- send pipeline v2 (migration 0012) --------------------------------------------------------

# The send's queue item: one row per outbound message a worker still has to act on, claimed in
# batches; a lease is "dueAt" pushed into the future under the claimant's name.
SendQueue = Table(
    "SendQueue",
    metadata,
    Column("messageId", Text, ForeignKey("MessageLog.id", ondelete="CASCADE"), primary_key=True),
    Column("orgId", Text, nullable=False),
    Column("dueAt", TS, nullable=False, server_default=now),
    Column("leaseOwner", Text, nullable=True),
    Column("claims", Integer, nullable=False, server_default=text("0")),
    Column("enqueuedAt", TS, nullable=False, server_default=now),
    # An enqueue that found the row leased: the lease's finish re-arms the row for then (0013).
    Column("rerunAt", TS, nullable=True),
    Index("SendQueue_dueAt_idx", "dueAt"),
    postgresql_with={"fillfactor": 70},
)

# Each send loop's heartbeat (migration 0013): a worker is alive while "expiresAt" is ahead.
SendWorker = Table(
    "SendWorker",
    metadata,
    Column("id", Text, primary_key=True),
    Column("startedAt", TS, nullable=False, server_default=now),
    Column("heartbeatAt", TS, nullable=False, server_default=now),
    Column("expiresAt", TS, nullable=False),
)

# Held messages only, so releasing them never reads the rest of the open queue.
Index(
    "MessageLog_held_idx",
    MessageLog.c.orgId,
    MessageLog.c.createdAt,
    postgresql_where=text(
        "\"direction\" = 'outbound' AND \"status\" = 'queued' AND jsonb_typeof(\"metadata\"->'hold') = 'object'"
    ),
)

# --- observability (migration 0003): counters fed by a trigger on "MessageLog", alert state ---

def _counter_columns() -> tuple[Column, ...]:
    return (Column("name", Text, nullable=False), Column("orgId", Text, nullable=False),
            Column("status", Text, nullable=False),
            Column("errorCode", Text, nullable=False, server_default=text("''")),
            Column("le", Float, nullable=False, server_default=text("0")))


MessageCounter = Table(
    "MessageCounter",
    metadata,
    *_counter_columns(),
    Column("count", BigInteger, nullable=False, server_default=text("0")),
    Column("sum", Float, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("name", "orgId", "status", "errorCode", "le"),
)

# Appended to by the trigger, folded into "MessageCounter" by the scheduler: no hot row to fight over.
MessageCounterDelta = Table(
    "MessageCounterDelta",
    metadata,
    *_counter_columns(),
    Column("count", BigInteger, nullable=False, server_default=text("1")),
    Column("sum", Float, nullable=False, server_default=text("0")),
)

def _rollup_columns() -> tuple[Column, ...]:
    return (Column("hour", TS, nullable=False), Column("direction", Text, nullable=False),
            Column("orgId", Text, nullable=False), Column("status", Text, nullable=False),
            # Only failures carry these two; '' for every other status.
            Column("errorCode", Text, nullable=False, server_default=text("''")),
            Column("from", Text, nullable=False, server_default=text("''")),
            Column("channel", Text, nullable=False, server_default=text("'sms'")))  # 0026

# Messages per hour of creation, direction, org and current status, failures also per error code
# and sender number (migration 0007): week-long
# windows read whole hours here instead of millions of "MessageLog" rows.
MessageRollup = Table(
    "MessageRollup",
    metadata,
    *_rollup_columns(),
    Column("count", BigInteger, nullable=False),
    Column("lastAt", TS, nullable=True),
    PrimaryKeyConstraint("hour", "direction", "orgId", "status", "errorCode", "from", "channel"),
)

# +1/-1 rows appended by the trigger, folded into "MessageRollup" by the scheduler.
MessageRollupDelta = Table(
    "MessageRollupDelta",
    metadata,
    *_rollup_columns(),
    Column("count", Integer, nullable=False),
    Column("lastAt", TS, nullable=True),
)

Alert = Table(
    "Alert",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("key", Text, nullable=False),
    Column("rule", Text, nullable=False),
    Column("orgId", Text, nullable=True),
    Column("severity", Text, nullable=False),
    Column("state", Text, nullable=False, server_default=text("'firing'")),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("firedAt", TS, nullable=False, server_default=now),
    Column("lastSeenAt", TS, nullable=False, server_default=now),
    Column("resolvedAt", TS, nullable=True),
    Index("Alert_firing_key", "key", unique=True, postgresql_where=text("\"state\" = 'firing'")),
    Index("Alert_firedAt_idx", "firedAt"),
)

AlertNotification = Table(
    "AlertNotification",
    metadata,
    Column("alertId", BigInteger, ForeignKey("Alert.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("claimedAt", TS, nullable=False, server_default=now),
    Column("sentAt", TS, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("lastError", Text, nullable=True),
    PrimaryKeyConstraint("alertId", "channel", "event"),
    Index("AlertNotification_unsent_idx", "claimedAt", postgresql_where=text('"sentAt" IS NULL')),
)

# --- API limits (migration 0005): UNLOGGED in the database; a lost counter forgives a little ---

RateCounter = Table(
    "RateCounter",
    metadata,
    Column("key", Text, nullable=False),
    Column("window", TS, nullable=False),
    Column("count", Integer, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("key", "window"),
    Index("RateCounter_window_idx", "window"),
    prefixes=["UNLOGGED"],
)

# --- dashboard sessions (migration 0011): logout and password changes end them server-side ---

DashboardSession = Table(
    "DashboardSession",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user", Text, nullable=False),
    Column("stamp", Text, nullable=False),
    Column("createdAt", TS, nullable=False, server_default=now),
    Column("expiresAt", TS, nullable=False),
    Column("endedAt", TS, nullable=True),
    Column("endReason", Text, nullable=True),
    Index("DashboardSession_expiresAt_idx", "expiresAt"),
)

DashboardLoginForm = Table(
    "DashboardLoginForm",
    metadata,
    Column("nonce", Text, primary_key=True),
    Column("usedAt", TS, nullable=False, server_default=now),
    Index("DashboardLoginForm_usedAt_idx", "usedAt"),
)
