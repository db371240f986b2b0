"""history that grows for years: autovacuum on "MessageLog" and the tables that grow with it by
a fixed number of changed rows, not a fifth of the table

Revision ID: 0029
Revises: 0023
"""
from alembic import op

revision = "0029"
down_revision = "0026"
branch_labels = None
depends_on = None

# PostgreSQL's defaults vacuum a table once a fifth of it is dead (scale factor 0.2): at 100M
# rows that is 20M dead tuples from row retention's deletes and the status updates, bloat
# the indexes the runbook's queries read carry until then, and one vacuum pass of hours. A
# threshold in rows makes autovacuum come round as often at 100M rows as at 1M: the cost of a
# pass follows the pages that changed (the visibility map skips the rest), not the table's size.
# Analyze the same way, so the planner's picture of "createdAt" stays current. Inserts too
# (autovacuum_vacuum_insert_*), so new pages become all-visible and the runbook's index-only
# counts do not fetch heap pages. ALTER TABLE … SET takes SHARE UPDATE EXCLUSIVE: reads and
# writes go on meanwhile (only another vacuum or schema change waits).
TABLES = ('"MessageLog"', '"MessageEvent"', '"WebhookEvent"')
SETTINGS = ("autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 500000, "
            "autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 500000, "
            "autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 500000")
NAMES = ("autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_insert_scale_factor, "
         "autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor, autovacuum_analyze_threshold")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET ({SETTINGS})")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET ({NAMES})")
