"""a channel per rollup row, so a week's figures can be read per channel; a template version's
WhatsApp content template

Revision ID: 0026
Revises: 0023
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None

# "MessageRollup" counted hours by direction, org, status, code and sender: `incident status
# --channel whatsapp` over a week, or the dashboard's 7 days of one channel, could only be read
# from "MessageLog". The rollup gets a "channel" (in its key; SMS is 'sms', as "MessageLog" spells
# it) and the delta function of 0023 groups by it. Rows folded before this migration were all
# counted as 'sms': the non-SMS messages' share moves to their channel by one pair of deltas per
# group (-1 under 'sms', +1 under the channel), read from "MessageLog" once (a scan of the table:
# channels came with 0023, so only the messages since then are not SMS).
#
# A template version may carry the WhatsApp content template that stands for it outside the
# 24-hour window ({"contentSid", "variables": {content variable: placeholder}}), versioned with
# the body its variables name.

# 0007's recount from "MessageLog" (bulk loads with triggers off), with the channel.
REBUILD = """
CREATE OR REPLACE FUNCTION smsrelay_rollup_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE "MessageRollup", "MessageRollupDelta";
    INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from"{channel}, "count", "lastAt")
    SELECT smsrelay_hour(m."createdAt"), m."direction", m."orgId", m."status", k.code, k.sender{m_channel},
           count(*), max(m."createdAt")
    FROM "MessageLog" m CROSS JOIN LATERAL smsrelay_rollup_key(m) k
    GROUP BY 1, 2, 3, 4, 5, 6{group};
$$;
"""

UP = """
ALTER TABLE "MessageTemplateVersion" ADD COLUMN "whatsapp" jsonb;
ALTER TABLE "MessageRollup" ADD COLUMN "channel" text NOT NULL DEFAULT 'sms';
ALTER TABLE "MessageRollupDelta" ADD COLUMN "channel" text NOT NULL DEFAULT 'sms';
ALTER TABLE "MessageRollup" DROP CONSTRAINT "MessageRollup_pkey",
    ADD CONSTRAINT "MessageRollup_pkey" PRIMARY KEY ("hour", "direction", "orgId", "status", "errorCode", "from", "channel");
INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "channel", "count", "lastAt")
SELECT h, d, o, s, c, f, ch, sum(n), max(l) FROM (
    SELECT smsrelay_hour(m."createdAt") AS h, m."direction" AS d, m."orgId" AS o, m."status" AS s, k.code AS c,
           k.sender AS f, x.ch, x.n, CASE WHEN x.n > 0 THEN m."createdAt" END AS l
    FROM "MessageLog" m CROSS JOIN LATERAL smsrelay_rollup_key(m) k
    CROSS JOIN LATERAL (VALUES ('sms', -1), (m."channel", 1)) AS x(ch, n)
    WHERE m."channel" <> 'sms'
) t
GROUP BY 1, 2, 3, 4, 5, 6, 7;
""" + REBUILD.format(channel=', "channel"', m_channel=', m."channel"', group=", 7")

DOWN = """
-- The channels' rows (and the deltas not yet folded) fold back into one row per key.
CREATE TEMP TABLE rollup_without_channel ON COMMIT DROP AS
SELECT "hour", "direction", "orgId", "status", "errorCode", "from", sum("count")::bigint AS "count", max("lastAt") AS "lastAt"
FROM (SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt" FROM "MessageRollup"
      UNION ALL
      SELECT "hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt" FROM "MessageRollupDelta") r
GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum("count") <> 0;
DELETE FROM "MessageRollupDelta";
ALTER TABLE "MessageRollupDelta" DROP COLUMN "channel";
DELETE FROM "MessageRollup";
ALTER TABLE "MessageRollup" DROP CONSTRAINT "MessageRollup_pkey", DROP COLUMN "channel";
ALTER TABLE "MessageRollup" ADD CONSTRAINT "MessageRollup_pkey"
    PRIMARY KEY ("hour", "direction", "orgId", "status", "errorCode", "from");
INSERT INTO "MessageRollup" SELECT * FROM rollup_without_channel;
ALTER TABLE "MessageTemplateVersion" DROP COLUMN "whatsapp";
""" + REBUILD.format(channel="", m_channel="", group="")

_ROLLUP_INSERT = 'INSERT INTO "MessageRollupDelta" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")'


def _deltas_function(with_channel: bool) -> str:
    """0023's smsrelay_message_deltas(), or the same with the rollup's rows per channel."""
    spec = importlib.util.spec_from_file_location("m0023", Path(__file__).with_name("0023_channels_and_scheduled_sends.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = module._deltas_function(per_channel=True)
    if not with_channel:
        return body
    replacements = [
        (_ROLLUP_INSERT, _ROLLUP_INSERT.replace('"from", "count"', '"from", "channel", "count"'), 3),
        # INSERT: the new rows' channel.
        ('n.code, n.sender, count(*), max(n."createdAt")\n        FROM n GROUP BY 1, 2, 3, 4, 5, 6;',
         'n.code, n.sender, n."channel", count(*), max(n."createdAt")\n        FROM n GROUP BY 1, 2, 3, 4, 5, 6, 7;', 1),
        # UPDATE: the old channel beside the new, and a change of channel moves the row.
        ('o."orgId" AS "oldOrgId", o."direction" AS "oldDirection",',
         'o."orgId" AS "oldOrgId", o."direction" AS "oldDirection", o."channel" AS "oldChannel",', 1),
        ('c."createdAt", c.code, c.sender)\n', 'c."createdAt", c.code, c.sender, c."channel")\n', 1),
        ('c."oldCreatedAt", c."oldCode", c."oldSender")', 'c."oldCreatedAt", c."oldCode", c."oldSender", c."oldChannel")', 1),
        ('d.code, d.sender, sum(d.n), max(d."lastAt")', 'd.code, d.sender, d.channel, sum(d.n), max(d."lastAt")', 1),
        ('m."oldSender" AS sender, -1 AS n', 'm."oldSender" AS sender, m."oldChannel" AS channel, -1 AS n', 1),
        ('m.code, m.sender, 1, m."createdAt"', 'm.code, m.sender, m."channel", 1, m."createdAt"', 1),
        ('        ) d\n        GROUP BY 1, 2, 3, 4, 5, 6;', '        ) d\n        GROUP BY 1, 2, 3, 4, 5, 6, 7;', 1),
        # DELETE: the deleted rows' channel.
        ("-count(*), NULL\n        FROM old_rows o GROUP BY 1, 2, 3, 4, 5, 6;",
         "o.\"channel\", -count(*), NULL\n        FROM old_rows o GROUP BY 1, 2, 3, 4, 5, 6, 7;", 1),
    ]
    for old, new, times in replacements:
        if body.count(old) != times:
            raise RuntimeError(f"0023's delta function changed: {old!r}")
        body = body.replace(old, new)
    return body


def _run(statements: str) -> None:
    # Straight to psycopg with no parameters, so '%' in the SQL is not read as a placeholder.
    op.get_bind().connection.driver_connection.execute(statements)


def upgrade() -> None:
    _run(UP + _deltas_function(with_channel=True))


def downgrade() -> None:
    _run(_deltas_function(with_channel=False) + DOWN)
