"""retention reaches callback payloads and idempotency keys

Revision ID: 0010
Revises: 0007
"""
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

# The retention duty now also empties "MessageEvent" payloads (Twilio's callback parameters:
# phone numbers) and deletes "IdempotencyKey" rows (their stored response) past
# CONTENT_RETENTION_DAYS. It runs every scheduler tick, so each needs an index to find its old
# rows without scanning the table: the events' one holds only payloads not yet purged, so it
# shrinks as they go and a run never walks purged history.
UP = """
CREATE INDEX "MessageEvent_unpurged_receivedAt_idx" ON "MessageEvent" ("receivedAt")
    WHERE "payload" <> '{}'::jsonb;
CREATE INDEX "IdempotencyKey_createdAt_idx" ON "IdempotencyKey" ("createdAt");
"""

DOWN = """
DROP INDEX IF EXISTS "MessageEvent_unpurged_receivedAt_idx";
DROP INDEX IF EXISTS "IdempotencyKey_createdAt_idx";
"""


def upgrade() -> None:
    op.get_bind().connection.driver_connection.execute(UP)


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute(DOWN)
