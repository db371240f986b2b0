"""Migration 0026 gives "MessageRollup" a channel: the hours counted before it (every message
under 'sms') are moved to each message's channel on upgrade, and folded back on downgrade, so
the rollup equals "MessageLog" both ways."""

from __future__ import annotations

import random

import psycopg
from alembic import command
from psycopg.types.json import Jsonb

from smsrelay.store.migrate import alembic_config, upgrade

ORGS = ("org_a", "org_b")
# The revision before 0026, whatever it is once the chain is merged.
BEFORE = "0026-1"

BY_CHANNEL = """
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "channel", sum("count")
FROM (SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "channel", "count" FROM "MessageRollup"
      UNION ALL
      SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "channel", "count" FROM "MessageRollupDelta") r
GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum("count") <> 0
"""
RECOUNT = """
SELECT smsrelay_hour(m."createdAt"), m."direction", m."orgId", m."status", k.code, k.sender, m."channel", count(*)
FROM "MessageLog" m CROSS JOIN LATERAL smsrelay_rollup_key(m) k GROUP BY 1, 2, 3, 4, 5, 6, 7
"""
# 0007's fold, as the scheduler ran it before 0026.
OLD_FOLD = """
WITH moved AS (DELETE FROM "MessageRollupDelta" RETURNING *)
INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", sum("count"), max("lastAt") FROM moved
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum("count") <> 0
ON CONFLICT ("hour", "direction", "orgId", "status", "errorCode", "from") DO UPDATE
SET "count" = "MessageRollup"."count" + excluded."count"
"""


def _counts(conn: psycopg.Connection, query: str, keep: int) -> dict[tuple, int]:
    out: dict[tuple, int] = {}
    for row in conn.execute(query).fetchall():
        key = tuple(row[:keep])
        out[key] = out.get(key, 0) + row[-1]
    return {k: v for k, v in out.items() if v}


def _insert(conn: psycopg.Connection, rng: random.Random, start: int, n: int) -> None:
    for i in range(start, start + n):
        status = rng.choice(("queued", "delivered", "read", "failed", "undelivered"))
        meta = {"twilioErrorCode": rng.choice(("30003", "63016"))} if status in ("failed", "undelivered") else {}
        conn.execute('INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "channel", '
                     '"metadata", "createdAt") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now() - %s * interval \'1 minute\')',
                     (f"msg_{i:04d}", rng.choice(ORGS), rng.choice(("outbound", "inbound")), status, "+15017122661",
                      f"+1415555{i:04d}", rng.choice(("sms", "mms", "whatsapp")), Jsonb(meta), rng.randrange(0, 600)))


def test_0026__moves_earlier_counts_to_their_channel_and_back(database_url):
    rng = random.Random(26)
    command.downgrade(alembic_config(database_url), BEFORE)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for org in ORGS:
            conn.execute('INSERT INTO "Org" ("id", "name") VALUES (%s, %s)', (org, org))
        _insert(conn, rng, 0, 150)
        conn.execute(OLD_FOLD)
        _insert(conn, rng, 150, 50)  # some left as deltas
        conn.execute('UPDATE "MessageLog" SET "status" = \'read\' WHERE "id" LIKE %s', ("msg_00%1",))
    upgrade(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        rolled = _counts(conn, BY_CHANNEL, 7)
        assert rolled == _counts(conn, RECOUNT, 7)
        assert {k[6] for k in rolled} == {"sms", "mms", "whatsapp"}
        # Writes after the upgrade are counted per channel by the trigger.
        _insert(conn, rng, 200, 30)
        conn.execute('''UPDATE "MessageLog" SET "status" = 'failed', "metadata" = '{"twilioErrorCode": "63016"}'
                        WHERE "id" LIKE 'msg_00%2' ''')
        conn.execute('UPDATE "MessageLog" SET "channel" = \'mms\' WHERE "id" LIKE %s', ("msg_01%",))
        conn.execute('DELETE FROM "MessageLog" WHERE "id" LIKE %s', ("msg_02%",))
        assert _counts(conn, BY_CHANNEL, 7) == _counts(conn, RECOUNT, 7)
    command.downgrade(alembic_config(database_url), BEFORE)
    with psycopg.connect(database_url, autocommit=True) as conn:
        without = _counts(conn, 'SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "count" '
                                'FROM "MessageRollup" UNION ALL SELECT "hour", "direction", "orgId", "status", '
                                '"errorCode", "from", "count" FROM "MessageRollupDelta"', 6)
        assert without == _counts(conn, RECOUNT.replace(', m."channel", count(*)', ', count(*)')
                                  .replace("GROUP BY 1, 2, 3, 4, 5, 6, 7", "GROUP BY 1, 2, 3, 4, 5, 6"), 6)
    upgrade(database_url)
