"""per-key request counters for the API's rate limit; daily send counters for the spend guard

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# UNLOGGED: a counter lost in a crash only forgives a few requests, and skipping the WAL keeps
# the per-request write cheap. Shared by every API process, unlike an in-memory bucket.
RATE_COUNTER = """
CREATE UNLOGGED TABLE "RateCounter" (
    "key" text NOT NULL,
    "window" timestamptz NOT NULL,
    "count" integer NOT NULL DEFAULT 0,
    PRIMARY KEY ("key", "window")
);
CREATE INDEX "RateCounter_window_idx" ON "RateCounter" ("window");
"""


def upgrade() -> None:
    op.get_bind().connection.driver_connection.execute(RATE_COUNTER)


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute('DROP TABLE "RateCounter"')
