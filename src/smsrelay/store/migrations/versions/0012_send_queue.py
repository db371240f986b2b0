"""send pipeline v2: "SendQueue" (the send's queue item, claimed in batches under a lease) and
the status lattice as SQL functions

Revision ID: 0012
Revises: 0011
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# One row per outbound message that a worker still has to act on; the row is deleted when the
# send is settled, so the table stays as small as the backlog and every claim reads only it.
# A lease is "dueAt" pushed into the future with the claimant's name: a worker that dies simply
# lets its rows come due again, so no stalled-job sweep is needed. Nothing here is indexed but
# the key and "dueAt", and the fillfactor leaves room, so a lease renewal is a HOT update.
# The lattice functions must equal domain/status.py (tests/store/test_status_sql.py compares
# every pair), so SQL that applies statuses in batches decides exactly as the Python does.
UP = """
CREATE TABLE "SendQueue" (
    "messageId" text PRIMARY KEY REFERENCES "MessageLog" ("id") ON DELETE CASCADE,
    "orgId" text NOT NULL,
    "dueAt" timestamptz NOT NULL DEFAULT now(),
    "leaseOwner" text,
    "claims" integer NOT NULL DEFAULT 0,
    "enqueuedAt" timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);
CREATE INDEX "SendQueue_dueAt_idx" ON "SendQueue" ("dueAt");

CREATE FUNCTION smsrelay_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE status
        WHEN 'queued' THEN 0 WHEN 'accepted' THEN 1 WHEN 'scheduled' THEN 1
        WHEN 'sending' THEN 2 WHEN 'sent' THEN 3
        WHEN 'delivered' THEN 4 WHEN 'undelivered' THEN 4 WHEN 'failed' THEN 4 WHEN 'canceled' THEN 4
        WHEN 'read' THEN 5 WHEN 'receiving' THEN 3 WHEN 'received' THEN 4
    END
$$;

CREATE FUNCTION smsrelay_status_is_final(status text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT status IN ('delivered', 'undelivered', 'failed', 'canceled', 'read', 'received')
$$;

-- domain/status.py should_apply: strictly forward, same direction, a final status only
-- delivered -> read; an unknown incoming status never applies (NULL current: false).
CREATE FUNCTION smsrelay_status_should_apply(current_status text, incoming text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN smsrelay_status_rank(incoming) IS NULL OR incoming = current_status THEN false
        WHEN (current_status IN ('receiving', 'received')) <> (incoming IN ('receiving', 'received')) THEN false
        WHEN smsrelay_status_is_final(current_status) THEN current_status = 'delivered' AND incoming = 'read'
        ELSE smsrelay_status_rank(incoming) > smsrelay_status_rank(current_status)
    END
$$;
"""

DOWN = """
DROP FUNCTION smsrelay_status_should_apply(text, text);
DROP FUNCTION smsrelay_status_is_final(text);
DROP FUNCTION smsrelay_status_rank(text);
DROP TABLE "SendQueue";
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
