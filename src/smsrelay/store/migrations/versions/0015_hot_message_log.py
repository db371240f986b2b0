"""cheaper "MessageLog" writes: counters and rollup deltas per statement, not per row; no index
change (HOT is blocked by the sid, status and hold indexes, see below)

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# The row triggers of 0003 ("MessageLog_count") and 0007 ("MessageLog_rollup") ran plpgsql and
# appended delta rows for every row written, so a statement that writes a batch of messages paid
# per message twice over. Statement triggers read the statement's rows from its transition
# tables and append, in one INSERT … GROUP BY, one delta per group (counter key; rollup hour,
# direction, org, status, code, sender): a batch of a thousand messages of one org costs a few
# delta rows. The semantics are those of 0003 and 0007, row for row: an update is paired with
# its old row by "id" (never changed), a message counts once under each status it reaches,
# 'sent' when "sentAt" is first set, and a rollup delta moves a message out of its old key (-1)
# and into its new one (+1, raising "lastAt" to its creation time).
#
# PostgreSQL allows transition tables only on a trigger of one event and without a column list,
# so there are three triggers, and the update trigger runs for every UPDATE (it finds nothing to
# count for a metadata merge that moves no key). One function serves the three events.
#
# The row functions of 0003 and 0007 stay defined, unused, so that the downgrade only has to
# attach them again.
#
# Indexes and fillfactor are left as they are; docs/benchmarks.md ("MessageLog" writes) has the
# figures behind each choice:
# - No update of a message's life cycle can be HOT today. The sid write changes the unique
#   "twilioSid" index; a status change touches every index carrying "status" (the runbook's
#   counts need it in ("direction", "createdAt") INCLUDE, reconciliation in the open index);
#   a metadata merge (in-flight marker, fence) touches "MessageLog_held_idx", whose predicate
#   reads "metadata". A fillfactor with room would buy nothing but a larger table.
# - "MessageLog_held_idx" without the JSON test (every queued outbound message) makes both merges
#   HOT, but then releasing holds, the held gauges and diagnosis walk every queued message of an
#   org, heap row by heap row, on every round of every worker: the backlog, when it is largest.
#   A narrow hold column kept by the code that sets holds would keep both; that code is
#   dispatch's and guards', so it is left for a change of its own.
# - ("direction", "status", "createdAt") is not redundant with ("direction", "createdAt")
#   INCLUDE ("status", …): a partial index on failures alone serves the runbook's failure queries
#   as well, but the dashboard's search by status takes the status as a parameter: once psycopg
#   prepares it (after a few runs on a connection), a generic plan can use neither a partial
#   index nor an INCLUDE column and walks the window's outbound rows, fetching each from the heap.
UP = """
CREATE FUNCTION smsrelay_message_deltas() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH n AS (
            SELECT m."orgId", m."direction", m."status", m."createdAt", m."sentAt", m."finalAt",
                   CASE WHEN m."status" IN ('failed', 'undelivered') THEN coalesce(m."metadata"->>'twilioErrorCode', '') ELSE '' END AS code,
                   CASE WHEN m."status" IN ('failed', 'undelivered') THEN coalesce(m."from", '') ELSE '' END AS sender
            FROM new_rows m
        ), counted AS (
            INSERT INTO "MessageCounterDelta" ("name", "orgId", "status", "errorCode", "le", "count", "sum")
            SELECT d.name, d."orgId", d.status, d.code, d.le, count(*), sum(d.s) FROM (
                SELECT n."direction" AS name, n."orgId", n."status" AS status, n.code, 0::float8 AS le, 0::float8 AS s
                FROM n WHERE NOT (n."direction" = 'outbound' AND n."status" = 'sent')
                UNION ALL
                SELECT 'latency', n."orgId", '', '', smsrelay_latency_bucket(l.s), l.s
                FROM n CROSS JOIN LATERAL (SELECT greatest(0, extract(epoch FROM coalesce(n."finalAt", now()) - n."createdAt"))::float8 AS s) l
                WHERE n."direction" = 'outbound' AND n."status" = 'delivered'
                UNION ALL
                SELECT 'outbound', n."orgId", 'sent', '', 0, 0
                FROM n WHERE n."direction" = 'outbound' AND n."sentAt" IS NOT NULL
            ) d
            GROUP BY 1, 2, 3, 4, 5
        )
        INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
        SELECT smsrelay_hour(n."createdAt"), n."direction", n."orgId", n."status", n.code, n.sender, count(*), max(n."createdAt")
        FROM n GROUP BY 1, 2, 3, 4, 5, 6;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH c AS (
            SELECT n."orgId", n."direction", n."status", n."createdAt", n."sentAt", n."finalAt",
                   CASE WHEN n."status" IN ('failed', 'undelivered') THEN coalesce(n."metadata"->>'twilioErrorCode', '') ELSE '' END AS code,
                   CASE WHEN n."status" IN ('failed', 'undelivered') THEN coalesce(n."from", '') ELSE '' END AS sender,
                   o."orgId" AS "oldOrgId", o."direction" AS "oldDirection", o."status" AS "oldStatus",
                   o."createdAt" AS "oldCreatedAt", o."sentAt" AS "oldSentAt",
                   CASE WHEN o."status" IN ('failed', 'undelivered') THEN coalesce(o."metadata"->>'twilioErrorCode', '') ELSE '' END AS "oldCode",
                   CASE WHEN o."status" IN ('failed', 'undelivered') THEN coalesce(o."from", '') ELSE '' END AS "oldSender"
            FROM new_rows n JOIN old_rows o ON o."id" = n."id"
        ), counted AS (
            INSERT INTO "MessageCounterDelta" ("name", "orgId", "status", "errorCode", "le", "count", "sum")
            SELECT d.name, d."orgId", d.status, d.code, d.le, count(*), sum(d.s) FROM (
                SELECT c."direction" AS name, c."orgId", c."status" AS status, c.code, 0::float8 AS le, 0::float8 AS s
                FROM c WHERE c."status" IS DISTINCT FROM c."oldStatus"
                         AND NOT (c."direction" = 'outbound' AND c."status" = 'sent')
                UNION ALL
                SELECT 'latency', c."orgId", '', '', smsrelay_latency_bucket(l.s), l.s
                FROM c CROSS JOIN LATERAL (SELECT greatest(0, extract(epoch FROM coalesce(c."finalAt", now()) - c."createdAt"))::float8 AS s) l
                WHERE c."status" IS DISTINCT FROM c."oldStatus" AND c."direction" = 'outbound' AND c."status" = 'delivered'
                UNION ALL
                SELECT 'outbound', c."orgId", 'sent', '', 0, 0
                FROM c WHERE c."direction" = 'outbound' AND c."sentAt" IS NOT NULL AND c."oldSentAt" IS NULL
            ) d
            GROUP BY 1, 2, 3, 4, 5
        ), moved AS (
            SELECT * FROM c
            WHERE (c."status", c."direction", c."orgId", c."createdAt", c.code, c.sender)
                  IS DISTINCT FROM (c."oldStatus", c."oldDirection", c."oldOrgId", c."oldCreatedAt", c."oldCode", c."oldSender")
        )
        INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
        SELECT d.hour, d."direction", d."orgId", d."status", d.code, d.sender, sum(d.n), max(d."lastAt") FROM (
            SELECT smsrelay_hour(m."oldCreatedAt") AS hour, m."oldDirection" AS "direction", m."oldOrgId" AS "orgId",
                   m."oldStatus" AS "status", m."oldCode" AS code, m."oldSender" AS sender, -1 AS n, NULL::timestamptz AS "lastAt"
            FROM moved m
            UNION ALL
            SELECT smsrelay_hour(m."createdAt"), m."direction", m."orgId", m."status", m.code, m.sender, 1, m."createdAt"
            FROM moved m
        ) d
        GROUP BY 1, 2, 3, 4, 5, 6;
    ELSE
        INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
        SELECT smsrelay_hour(o."createdAt"), o."direction", o."orgId", o."status",
               CASE WHEN o."status" IN ('failed', 'undelivered') THEN coalesce(o."metadata"->>'twilioErrorCode', '') ELSE '' END,
               CASE WHEN o."status" IN ('failed', 'undelivered') THEN coalesce(o."from", '') ELSE '' END,
               -count(*), NULL
        FROM old_rows o GROUP BY 1, 2, 3, 4, 5, 6;
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER "MessageLog_count" ON "MessageLog";
DROP TRIGGER "MessageLog_rollup" ON "MessageLog";
CREATE TRIGGER "MessageLog_deltas_insert" AFTER INSERT ON "MessageLog"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_message_deltas();
CREATE TRIGGER "MessageLog_deltas_update" AFTER UPDATE ON "MessageLog"
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_message_deltas();
CREATE TRIGGER "MessageLog_deltas_delete" AFTER DELETE ON "MessageLog"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_message_deltas();
"""

DOWN = """
DROP TRIGGER "MessageLog_deltas_insert" ON "MessageLog";
DROP TRIGGER "MessageLog_deltas_update" ON "MessageLog";
DROP TRIGGER "MessageLog_deltas_delete" ON "MessageLog";
DROP FUNCTION smsrelay_message_deltas();
CREATE TRIGGER "MessageLog_count"
    AFTER INSERT OR UPDATE OF "status", "sentAt" ON "MessageLog"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_count_message();
CREATE TRIGGER "MessageLog_rollup"
    AFTER INSERT OR DELETE OR UPDATE OF "status", "direction", "orgId", "createdAt", "from", "metadata" ON "MessageLog"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_rollup_message();
"""


def _run(sql: str) -> None:
    # Straight to psycopg with no parameters, so '%' in the SQL is not read as a placeholder.
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _run(UP)


def downgrade() -> None:
    _run(DOWN)
