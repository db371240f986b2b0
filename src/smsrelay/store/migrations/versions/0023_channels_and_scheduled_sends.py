"""channels (MMS, WhatsApp) and scheduled sends: per-channel org switches, "MessageLog"."sendAt",
the WhatsApp window's index, and our own `scheduled` ranked before `queued` in the SQL lattice

Revision ID: 0023
Revises: 0020
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0023"
down_revision = "0020"
branch_labels = None
depends_on = None

# "smsDisabled" keeps meaning SMS (the runbook's mitigation); the other channels get their own
# switch, so disabling one org's WhatsApp leaves its SMS alone.
#
# `scheduled` is ours now: a message held until its "sendAt" (we never use Twilio's own
# scheduling, which needs a Messaging Service and is the only source of Twilio's `scheduled`).
# It ranks before `queued`, so the worker's release at "sendAt" (scheduled -> queued) is a move
# forward and nothing can put a message back to `scheduled`. The functions must equal
# domain/status.py (tests/store/test_status_sql.py compares every pair).
#
# The WhatsApp window asks "did this person write to this org's WhatsApp sender in the last 24
# hours?" on every free-text send: a partial index of inbound WhatsApp rows answers it with one
# probe and costs SMS traffic nothing.
# Counters per channel: the delta trigger of 0015 names a counter by direction ('outbound',
# 'inbound'); SMS keeps those names, so the runbook's twilio.sms.outbound (and every reading of
# it) stays SMS-only, and MMS and WhatsApp count under 'outbound:mms', 'outbound:whatsapp', …
# (smsrelay_counter_name). The function is 0015's, with the name computed from the channel.
UP = """
CREATE FUNCTION smsrelay_counter_name(direction text, channel text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN channel IS NULL OR channel = 'sms' THEN direction ELSE direction || ':' || channel END
$$;
ALTER TABLE "OrgSettings" ADD COLUMN "mmsDisabled" boolean NOT NULL DEFAULT false,
                          ADD COLUMN "whatsappDisabled" boolean NOT NULL DEFAULT false;
ALTER TABLE "MessageLog" ADD COLUMN "sendAt" timestamptz;
CREATE INDEX "MessageLog_whatsapp_inbound_idx" ON "MessageLog" ("orgId", "from", "createdAt")
    WHERE "direction" = 'inbound' AND "channel" = 'whatsapp';

CREATE OR REPLACE FUNCTION smsrelay_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'scheduled' THEN -1 WHEN 'queued' THEN 0 WHEN 'accepted' THEN 1
        WHEN 'sending' THEN 2 WHEN 'sent' THEN 3
        WHEN 'delivered' THEN 4 WHEN 'undelivered' THEN 4 WHEN 'failed' THEN 4 WHEN 'canceled' THEN 4
        WHEN 'read' THEN 5 WHEN 'receiving' THEN 3 WHEN 'received' THEN 4
    END
$$;
"""

DOWN = """
DROP FUNCTION smsrelay_counter_name(text, text);
CREATE OR REPLACE FUNCTION smsrelay_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'accepted' THEN 1 WHEN 'scheduled' THEN 1
        WHEN 'sending' THEN 2 WHEN 'sent' THEN 3
        WHEN 'delivered' THEN 4 WHEN 'undelivered' THEN 4 WHEN 'failed' THEN 4 WHEN 'canceled' THEN 4
        WHEN 'read' THEN 5 WHEN 'receiving' THEN 3 WHEN 'received' THEN 4
    END
$$;
DROP INDEX "MessageLog_whatsapp_inbound_idx";
ALTER TABLE "MessageLog" DROP COLUMN "sendAt";
ALTER TABLE "OrgSettings" DROP COLUMN "whatsappDisabled", DROP COLUMN "mmsDisabled";
"""


def _deltas_function(per_channel: bool) -> str:
    """0015's smsrelay_message_deltas(), as 0015 wrote it or naming counters per channel."""
    spec = importlib.util.spec_from_file_location("m0015", Path(__file__).with_name("0015_hot_message_log.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = module.UP.index("CREATE FUNCTION smsrelay_message_deltas()")
    body = module.UP[start:module.UP.index("$$;", start) + 3].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    if not per_channel:
        return body
    for old, new in (
        ('SELECT m."orgId", m."direction",', 'SELECT m."orgId", m."direction", m."channel",'),
        ('SELECT n."orgId", n."direction", n."status", n."createdAt"',
         'SELECT n."orgId", n."direction", n."channel", n."status", n."createdAt"'),
        ('SELECT n."direction" AS name,', 'SELECT smsrelay_counter_name(n."direction", n."channel") AS name,'),
        ('SELECT c."direction" AS name,', 'SELECT smsrelay_counter_name(c."direction", c."channel") AS name,'),
        ("SELECT 'outbound', n.\"orgId\", 'sent'", "SELECT smsrelay_counter_name('outbound', n.\"channel\"), n.\"orgId\", 'sent'"),
        ("SELECT 'outbound', c.\"orgId\", 'sent'", "SELECT smsrelay_counter_name('outbound', c.\"channel\"), c.\"orgId\", 'sent'"),
    ):
        if body.count(old) != 1:
            raise RuntimeError(f"0015's delta function changed: {old!r}")
        body = body.replace(old, new)
    return body


def _run(statements: str) -> None:
    # Straight to psycopg with no parameters, so '%' in the SQL is not read as a placeholder.
    op.get_bind().connection.driver_connection.execute(statements)


def upgrade() -> None:
    _run(UP + _deltas_function(per_channel=True))


def downgrade() -> None:
    _run(_deltas_function(per_channel=False) + DOWN)
