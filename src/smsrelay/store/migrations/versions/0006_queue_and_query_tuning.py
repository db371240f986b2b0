"""job-queue and runbook-query tuning found by the benchmark

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# procrastinate's fetch checks each candidate's lock against every other job with that lock.
# With stale planner statistics it walked the whole (id, lock) index per fetch: 30 s per job
# with 30,000 queued (docs/benchmarks.md). An index on the lock of live jobs makes that check a
# lookup, and analysing the queue table often keeps its plan right as it fills and drains.
UP = """
CREATE INDEX IF NOT EXISTS procrastinate_jobs_live_lock_idx ON procrastinate_jobs (lock)
    WHERE status IN ('todo', 'doing');
ALTER TABLE procrastinate_jobs SET (autovacuum_analyze_threshold = 1000, autovacuum_analyze_scale_factor = 0,
                                    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0.05);
DROP INDEX IF EXISTS "MessageLog_direction_createdAt_idx";
CREATE INDEX "MessageLog_direction_createdAt_idx" ON "MessageLog" ("direction", "createdAt")
    INCLUDE ("status", "orgId");
"""
# The runbook's steps 1 and 4 read status and orgId for every outbound row of the last hour;
# carried in the index they are answered by an index-only scan instead of a heap visit per row.

DOWN = """
DROP INDEX IF EXISTS procrastinate_jobs_live_lock_idx;
ALTER TABLE procrastinate_jobs RESET (autovacuum_analyze_threshold, autovacuum_analyze_scale_factor,
                                      autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor);
DROP INDEX IF EXISTS "MessageLog_direction_createdAt_idx";
CREATE INDEX "MessageLog_direction_createdAt_idx" ON "MessageLog" ("direction", "createdAt");
"""


def upgrade() -> None:
    op.get_bind().connection.driver_connection.execute(UP)


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute(DOWN)
