"""channels (MMS, WhatsApp) and scheduled sends: per-channel org switches, "MessageLog"."sendAt",
the WhatsApp window's index, and our own `scheduled` ranked before `queued` in the SQL lattice

Revision ID: 0023
Revises: 0015
"""
from alembic import op

revision = "0023"
down_revision = "0015"
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
UP = """
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


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
