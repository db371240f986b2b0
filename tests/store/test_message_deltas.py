"""The statement triggers of migration 0015 keep "MessageCounter" and "MessageRollup" exact when
one statement writes many messages of several orgs and statuses, with one delta row per group."""

from __future__ import annotations

import random

import psycopg
from psycopg.types.json import Jsonb

ORGS = ("org_a", "org_b", "org_c")
CODES = ("30003", "30007", None)
SENDERS = ("+15017122661", "+15017122662", None)
N = 600

# What the counters must hold, recounted from "MessageLog" as migration 0003 counts history:
# each message once under its status ('sent' by "sentAt"), and each delivery's latency bucket.
RECOUNT = """
SELECT "direction", "orgId", "status",
       CASE WHEN "status" IN ('failed', 'undelivered') THEN coalesce("metadata"->>'twilioErrorCode', '') ELSE '' END,
       0::float8, count(*), 0::float8
FROM {t} WHERE NOT ("direction" = 'outbound' AND "status" = 'sent') {extra} GROUP BY 1, 2, 3, 4
UNION ALL
SELECT 'outbound', "orgId", 'sent', '', 0, count(*), 0 FROM {t}
WHERE "direction" = 'outbound' AND "sentAt" IS NOT NULL {sent_extra} GROUP BY 2
UNION ALL
SELECT 'latency', "orgId", '', '', smsrelay_latency_bucket(s), count(*), sum(s)
FROM (SELECT "orgId", greatest(0, extract(epoch FROM "finalAt" - "createdAt"))::float8 AS s FROM {t}
      WHERE "direction" = 'outbound' AND "status" = 'delivered' {extra}) d
GROUP BY 2, 5
"""
COUNTERS = """
SELECT "name", "orgId", "status", "errorCode", "le", sum("count"), sum("sum")
FROM (SELECT * FROM "MessageCounter" UNION ALL SELECT * FROM "MessageCounterDelta") c GROUP BY 1, 2, 3, 4, 5
"""
ROLLUP = """
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", sum("count")
FROM (SELECT * FROM "MessageRollup" UNION ALL SELECT * FROM "MessageRollupDelta") r
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum("count") <> 0
"""
ROLLUP_RECOUNT = """
SELECT smsrelay_hour(m."createdAt"), m."direction", m."orgId", m."status", k.code, k.sender, count(*)
FROM "MessageLog" m CROSS JOIN LATERAL smsrelay_rollup_key(m) k GROUP BY 1, 2, 3, 4, 5, 6
"""


def _counts(conn: psycopg.Connection, query: str) -> dict[tuple, tuple]:
    out: dict[tuple, tuple] = {}
    for *key, count, total in conn.execute(query).fetchall():
        n, s = out.get(tuple(key), (0, 0.0))
        out[tuple(key)] = (n + count, round(s + total, 6))
    return out


def _rollup(conn: psycopg.Connection, query: str) -> dict[tuple, int]:
    return {tuple(r[:-1]): r[-1] for r in conn.execute(query).fetchall()}


def _insert_many(conn: psycopg.Connection, rng: random.Random) -> None:
    rows = []
    for i in range(N):
        direction = "outbound" if i % 4 else "inbound"
        status = rng.choice(("queued", "sent", "delivered", "failed", "undelivered")) if i % 4 else "received"
        meta = {"twilioErrorCode": rng.choice(CODES)} if status in ("failed", "undelivered") else {}
        rows.append((f"msg_{i:04d}", rng.choice(ORGS), direction, status, rng.choice(SENDERS), f"+1415555{i:04d}",
                     Jsonb(meta), rng.randrange(0, 5 * 86400)))
    # One statement for all of them; "sentAt" and "finalAt" as the pipeline would have set them.
    conn.execute("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "metadata", "createdAt", "sentAt", "finalAt")
        SELECT r.id, r.org, r.dir, r.st, r.sender, r.rcpt, r.meta, now() - make_interval(secs => r.age),
               CASE WHEN r.st IN ('sent', 'delivered', 'undelivered') THEN now() - make_interval(secs => r.age) + interval '1 s' END,
               CASE WHEN r.st IN ('delivered', 'undelivered', 'failed') THEN now() - make_interval(secs => r.age) + interval '3 s' END
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::jsonb[], %s::int[])
             AS r(id, org, dir, st, sender, rcpt, meta, age)""", [list(col) for col in zip(*rows)])


# One statement moving many messages at once, as the batch paths do: queued ones are sent (some
# fail with a code), sent ones are delivered, some failures are corrected, some rows only get a
# metadata merge, some a new error code, and inbound rows are left alone.
UPDATE_MANY = """
UPDATE "MessageLog" SET
    "status" = CASE WHEN "status" = 'queued' AND right("id", 1) IN ('1', '3') THEN 'failed'
                    WHEN "status" = 'queued' AND right("id", 1) IN ('2', '4', '6') THEN 'sent'
                    WHEN "status" = 'sent' AND right("id", 1) <> '9' THEN 'delivered'
                    WHEN "status" = 'failed' AND right("id", 1) = '5' THEN 'delivered'
                    ELSE "status" END,
    "sentAt" = CASE WHEN "status" IN ('queued', 'sent') AND right("id", 1) IN ('2', '4', '6', '8') THEN coalesce("sentAt", now()) ELSE "sentAt" END,
    "finalAt" = CASE WHEN "status" IN ('sent', 'queued', 'failed') THEN coalesce("finalAt", now()) ELSE "finalAt" END,
    "metadata" = "metadata" || CASE WHEN right("id", 2) IN ('07', '17', '27') THEN jsonb_build_object('twilioErrorCode', '30008')
                                    ELSE '{"x": 1}'::jsonb END
WHERE "direction" = 'outbound' OR right("id", 1) = '0'
"""


def test_deltas__one_statement_of_many_rows_counts_exactly_one_delta_per_group(database_url):
    rng = random.Random(11)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for org in ORGS:
            conn.execute('INSERT INTO "Org" ("id", "name") VALUES (%s, %s)', (org, org))
        _insert_many(conn, rng)
        assert _counts(conn, COUNTERS) == _counts(conn, RECOUNT.format(t='"MessageLog"', extra="", sent_extra=""))
        assert _rollup(conn, ROLLUP) == _rollup(conn, ROLLUP_RECOUNT)
        # Per group, not per row: the row triggers wrote one rollup delta for each of the N rows.
        groups = conn.execute(f"SELECT count(*) FROM ({ROLLUP_RECOUNT}) g").fetchone()[0]
        assert conn.execute('SELECT count(*) FROM "MessageRollupDelta"').fetchone()[0] == groups < N
        counter_groups = conn.execute('SELECT count(DISTINCT ("name", "orgId", "status", "errorCode", "le")) '
                                      'FROM "MessageCounterDelta"').fetchone()[0]
        assert conn.execute('SELECT count(*) FROM "MessageCounterDelta"').fetchone()[0] == counter_groups

        conn.execute('CREATE TABLE before_update AS SELECT * FROM "MessageLog"')
        deltas_before = conn.execute('SELECT count(*) FROM "MessageRollupDelta"').fetchone()[0]
        updated = conn.execute(UPDATE_MANY).rowcount
        assert updated > N / 2
        # History counts once more for each message whose status moved; 'sent' is "sentAt" now.
        moved = ('AND "id" IN (SELECT a."id" FROM "MessageLog" a JOIN before_update b USING ("id") '
                 'WHERE a."status" <> b."status")')
        expected = _counts(conn, RECOUNT.format(t="before_update", extra="", sent_extra="AND false"))
        for key, (n, s) in _counts(conn, RECOUNT.format(t='"MessageLog"', extra=moved, sent_extra="")).items():
            n0, s0 = expected.get(key, (0, 0.0))
            expected[key] = (n0 + n, round(s0 + s, 6))
        assert _counts(conn, COUNTERS) == expected
        assert _rollup(conn, ROLLUP) == _rollup(conn, ROLLUP_RECOUNT)
        added = conn.execute('SELECT count(*) FROM "MessageRollupDelta"').fetchone()[0] - deltas_before
        assert 0 < added < updated

        # A metadata merge that moves no key counts nothing.
        conn.execute('''UPDATE "MessageLog" SET "metadata" = "metadata" || '{"y": 2}' ''')
        assert conn.execute('SELECT count(*) FROM "MessageRollupDelta"').fetchone()[0] == deltas_before + added
        assert _counts(conn, COUNTERS) == expected

        # One DELETE of many rows takes them out of the rollup (counters keep history).
        conn.execute('''DELETE FROM "MessageLog" WHERE "orgId" = 'org_b' OR right("id", 1) = '3' ''')
        assert _rollup(conn, ROLLUP) == _rollup(conn, ROLLUP_RECOUNT)
        assert _counts(conn, COUNTERS) == expected
