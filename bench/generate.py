"""A "MessageLog" history for the query stage, written by PostgreSQL itself (INSERT … SELECT over
generate_series) so 10 million rows take minutes, not hours.

Shape: 50 orgs with skewed traffic (org k gets a share falling off like a power law; the
biggest org sends about a quarter of everything), 30 days of history in creation order, 85 %
outbound, and a busy last hour holding 3 % of all rows (about 20× an ordinary hour) with an incident in it: one org's
messages failing with 30007 (carrier filtering) on top of the usual 2–5 % of destination noise.

Loading: the secondary indexes are dropped and rebuilt after the load (as one would restore a
dump), triggers and foreign keys are skipped for the load session (session_replication_role),
and the table is vacuumed and analysed afterwards, the steady state autovacuum would leave.
The primary key and the unique sid index stay: ids and sids are generated in ascending order.
Each size is generated afresh (not appended), so the heap stays in creation order.
"""

from __future__ import annotations

import time

import psycopg

from smsrelay.store.db import psycopg_url

ORGS = 50
INCIDENT_ORG = 3  # the org whose content is being filtered during the busy hour
BUSY_SHARE = 0.03

ORG_SQL = """
INSERT INTO "Org" ("id", "name", "createdAt")
SELECT 'org_gen' || lpad(k::text, 2, '0'), 'Generated org ' || k, now() - interval '90 days'
FROM generate_series(0, %(orgs)s - 1) k ON CONFLICT DO NOTHING;
INSERT INTO "OrgSettings" ("orgId") SELECT 'org_gen' || lpad(k::text, 2, '0') FROM generate_series(0, %(orgs)s - 1) k
ON CONFLICT DO NOTHING;
INSERT INTO "PhoneNumber" ("id", "orgId", "number", "kind")
SELECT 'num_gen' || k, 'org_gen' || lpad(k::text, 2, '0'), '+1650' || (3000000 + k)::text, 'long_code'
FROM generate_series(0, %(orgs)s - 1) k ON CONFLICT DO NOTHING;
"""

# One row per g. r1..r5 are independent uniform draws; everything else derives from them.
ROWS_SQL = """
INSERT INTO "MessageLog" ("id", "orgId", "channel", "direction", "status", "from", "to", "content", "segments",
                          "encoding", "twilioSid", "metadata", "createdAt", "updatedAt", "sentAt", "finalAt")
SELECT 'msg_gen' || lpad(g::text, 10, '0'), org_id, 'sms', direction, status,
       CASE WHEN direction = 'outbound' THEN org_number ELSE recipient END,
       CASE WHEN direction = 'outbound' THEN recipient ELSE org_number END,
       CASE WHEN direction = 'inbound' THEN (ARRAY['YES', 'STOP', 'Thanks!', 'What time?'])[1 + (g %% 4)]
            ELSE (ARRAY['Your table for 2 is ready.', 'Reminder: your appointment is tomorrow at 10:30.',
                        'Your order has shipped.', 'Your verification code is 482913.'])[1 + (g %% 4)] END,
       1, 'GSM-7',
       CASE WHEN status = 'queued' THEN NULL ELSE 'SMgen' || lpad(g::text, 12, '0') END,
       CASE WHEN code IS NULL THEN jsonb_build_object('attempts', 1, 'country', 'US')
            ELSE jsonb_build_object('attempts', 1, 'country', 'US', 'twilioErrorCode', code,
                                    'twilioErrorMessage', code_message) END,
       created, created + interval '3 seconds',
       CASE WHEN status IN ('sent', 'delivered', 'undelivered') THEN created + interval '1 second' END,
       CASE WHEN status IN ('delivered', 'undelivered', 'failed') THEN created + interval '3 seconds' END
FROM (
    SELECT g, org_id, org_number, direction, recipient, created, status,
           CASE WHEN status IN ('failed', 'undelivered') THEN
                CASE WHEN incident THEN '30007'
                     ELSE (ARRAY['30003', '30003', '30005', '30006', '30008', '21211', '21610', '30004'])[1 + (g %% 8)] END
           END AS code,
           CASE WHEN incident AND status IN ('failed', 'undelivered') THEN 'Message filtered'
                ELSE 'Unreachable destination handset' END AS code_message
    FROM (
        SELECT g, org_id, '+1650' || (3000000 + org_k)::text AS org_number,
               CASE WHEN r2 < 0.85 THEN 'outbound' ELSE 'inbound' END AS direction,
               '+1415' || (2000000 + (g * 7919) %% 7000000)::text AS recipient,
               created, busy, busy AND org_k = %(incident_org)s AS incident,
               CASE WHEN r2 >= 0.85 THEN 'received'
                    WHEN busy AND org_k = %(incident_org)s AND r3 < 0.6 THEN 'failed'
                    WHEN busy AND r3 < 0.03 THEN 'queued'
                    WHEN busy AND r3 < 0.12 THEN 'sent'
                    WHEN r3 < 0.02 THEN 'failed'
                    WHEN r3 < 0.05 THEN 'undelivered'
                    WHEN r3 < 0.06 AND NOT busy THEN 'sent'
                    ELSE 'delivered' END AS status
        FROM (
            SELECT g, r2, r3, busy, org_k, 'org_gen' || lpad(org_k::text, 2, '0') AS org_id,
                   -- Time grows with g, so rows lie in the heap in the order they were created, as
                   -- in production: the last hour is a few thousand adjacent pages, not scattered.
                   CASE WHEN busy THEN %(anchor)s::timestamptz
                                       - (%(total)s - g)::float8 / %(busy_rows)s * interval '1 hour'
                        ELSE %(anchor)s::timestamptz - interval '1 hour'
                             - (%(total)s - %(busy_rows)s - g)::float8 / (%(total)s - %(busy_rows)s) * interval '29 days'
                   END AS created
            FROM (
                SELECT g, random() AS r2, random() AS r3, g > %(total)s - %(busy_rows)s AS busy,
                       least(%(orgs)s - 1, floor(%(orgs)s * power(random(), 2.5)))::int AS org_k
                FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
            ) draws
        ) placed
    ) typed
) coded
"""

INDEXES_SQL = """
SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.tablename = 'MessageLog' AND i.schemaname = current_schema()
  AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = '"MessageLog"'::regclass)
"""


SIZES_SQL = """
SELECT 'heap' AS name, pg_relation_size('"MessageLog"') AS bytes
UNION ALL SELECT 'toast', coalesce(pg_total_relation_size(reltoastrelid), 0) FROM pg_class WHERE oid = '"MessageLog"'::regclass
UNION ALL (SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
           WHERE i.indrelid = '"MessageLog"'::regclass ORDER BY c.relname)
UNION ALL SELECT 'total', pg_total_relation_size('"MessageLog"')
"""


def relation_sizes(conn: psycopg.Connection) -> dict[str, int]:
    """Bytes of "MessageLog"'s heap, TOAST and each index: what the memory needed is sized from."""
    return {name: int(size) for name, size in conn.execute(SIZES_SQL).fetchall()}


def generate(url: str, total: int, *, log=print) -> dict[str, float]:
    """Replace "MessageLog" with `total` generated rows, in creation order."""
    timings: dict[str, float] = {}
    start = 1
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute('TRUNCATE "MessageLog" CASCADE')  # and "SendQueue", keyed by it
        for statement in filter(str.strip, ORG_SQL.split(";\n")):
            conn.execute(statement, {"orgs": ORGS})
        indexes = conn.execute(INDEXES_SQL).fetchall()
        t0 = time.perf_counter()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        try:
            conn.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        except psycopg.Error:
            conn.execute('ALTER TABLE "MessageLog" DISABLE TRIGGER USER')
        anchor = conn.execute("SELECT now()").fetchone()[0]
        chunk = 1_000_000
        for first in range(start, start + total, chunk):
            last = min(start + total - 1, first + chunk - 1)
            conn.execute(ROWS_SQL, {"first": first, "last": last, "anchor": anchor, "total": total,
                                    "busy_rows": max(1, int(total * BUSY_SHARE)), "orgs": ORGS,
                                    "incident_org": INCIDENT_ORG})
            log(f"    generated rows up to {last:,} ({time.perf_counter() - t0:.0f} s)")
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute('ALTER TABLE "MessageLog" ENABLE TRIGGER USER')
        timings["load_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        for _, definition in indexes:
            conn.execute(definition)
        timings["index_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        # The load ran with triggers off: recount the hourly rollup they would have kept.
        conn.execute("SELECT smsrelay_rollup_rebuild()")
        conn.execute('VACUUM (ANALYZE) "MessageLog", "MessageRollup"')
        timings["vacuum_s"] = time.perf_counter() - t2
        rows = conn.execute('SELECT count(*) FROM "MessageLog"').fetchone()[0]
        size = conn.execute("""SELECT pg_size_pretty(pg_total_relation_size('"MessageLog"'))""").fetchone()[0]
        busy = conn.execute("""SELECT count(*) FROM "MessageLog" WHERE "createdAt" > now() - interval '1 hour'""").fetchone()[0]
        sizes = relation_sizes(conn)
    log(f"    {rows:,} rows ({size}), {busy:,} in the last hour; load {timings['load_s']:.0f} s, "
        f"indexes {timings['index_s']:.0f} s, vacuum+analyze {timings['vacuum_s']:.0f} s")
    log("    sizes (MB): " + ", ".join(f"{k} {v / 2**20:,.0f}" for k, v in sizes.items()))
    timings["relations"] = sizes  # type: ignore[assignment]
    timings["rows"] = rows
    timings["busy_rows"] = busy
    timings["size"] = size  # type: ignore[assignment]
    return timings
