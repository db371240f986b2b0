"""hourly outcome rollup for week-long windows; sender number in the window index

Revision ID: 0007
Revises: 0006
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The dashboard's 7-day views read every outbound row of the week: 2.6M index entries at 10M
# rows, 0.7 s even index-only (docs/benchmarks.md). "MessageRollup" holds, per hour of
# creation, how many messages of each direction and org are now in each status (failures also
# by error code and sender number), so a week is a few ten thousand rollup rows. Readers take whole hours from it and the partial hours at either end
# (the current one included, where the busy traffic is) from "MessageLog", which keeps every
# answer exact to the row.
#
# As with "MessageCounter" (0003), the trigger appends a delta row in the writer's transaction
# instead of bumping a shared row (which would serialise every writer of an org's hour), and
# the scheduler folds the deltas each tick. Readers sum rollup and unfolded deltas in one
# statement. A status change moves one message out of its old status (-1) and into the new
# one (+1), in the hour of its creation. Hours are binned from a fixed UTC origin, so the
# session time zone cannot shift them.
#
# diagnose and the incident report group the window's outbound traffic by org *and sender
# number*: carrying "from" in the (direction, createdAt) index makes that index-only too
# (0.57 s -> 0.07 s over a 2-hour window at 10M rows).
UP = """
CREATE FUNCTION smsrelay_hour(at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT date_bin('1 hour', at, TIMESTAMPTZ '2000-01-01 00:00:00+00')
$$;

CREATE TABLE "MessageRollup" (
    "hour" timestamptz NOT NULL,
    "direction" text NOT NULL,
    "orgId" text NOT NULL,
    "status" text NOT NULL,
    "errorCode" text NOT NULL DEFAULT '',
    "from" text NOT NULL DEFAULT '',
    "count" bigint NOT NULL,
    "lastAt" timestamptz,
    PRIMARY KEY ("hour", "direction", "orgId", "status", "errorCode", "from")
);
CREATE TABLE "MessageRollupDelta" (
    "hour" timestamptz NOT NULL,
    "direction" text NOT NULL,
    "orgId" text NOT NULL,
    "status" text NOT NULL,
    "errorCode" text NOT NULL DEFAULT '',
    "from" text NOT NULL DEFAULT '',
    "count" integer NOT NULL,
    "lastAt" timestamptz
);

-- Failures are kept by error code and sender number (the errors views group by both); other
-- statuses by org alone, which keeps the rollup near one row per org, status and hour.
CREATE FUNCTION smsrelay_rollup_key(m "MessageLog", OUT code text, OUT sender text) LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m."status" IN ('failed', 'undelivered') THEN coalesce(m."metadata"->>'twilioErrorCode', '') ELSE '' END,
           CASE WHEN m."status" IN ('failed', 'undelivered') THEN coalesce(m."from", '') ELSE '' END
$$;

-- "lastAt" is the newest creation time that entered the row; a -1 does not lower it, so after a
-- failure is corrected (rare: failures are final) an errors view may show it as last seen.
CREATE FUNCTION smsrelay_rollup_message() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    o record;
    n record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        o := smsrelay_rollup_key(OLD);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        n := smsrelay_rollup_key(NEW);
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO "MessageRollupDelta" VALUES
            (smsrelay_hour(NEW."createdAt"), NEW."direction", NEW."orgId", NEW."status", n.code, n.sender, 1, NEW."createdAt");
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO "MessageRollupDelta" VALUES
            (smsrelay_hour(OLD."createdAt"), OLD."direction", OLD."orgId", OLD."status", o.code, o.sender, -1, NULL);
    ELSIF (NEW."status", NEW."direction", NEW."orgId", NEW."createdAt", n.code, n.sender)
          IS DISTINCT FROM (OLD."status", OLD."direction", OLD."orgId", OLD."createdAt", o.code, o.sender) THEN
        INSERT INTO "MessageRollupDelta" VALUES
            (smsrelay_hour(OLD."createdAt"), OLD."direction", OLD."orgId", OLD."status", o.code, o.sender, -1, NULL),
            (smsrelay_hour(NEW."createdAt"), NEW."direction", NEW."orgId", NEW."status", n.code, n.sender, 1, NEW."createdAt");
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER "MessageLog_rollup"
    AFTER INSERT OR DELETE OR UPDATE OF "status", "direction", "orgId", "createdAt", "from", "metadata" ON "MessageLog"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_rollup_message();

-- Recounts everything from "MessageLog": for this migration, and for bulk loads that ran with
-- triggers off (the benchmark's generator).
CREATE FUNCTION smsrelay_rollup_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE "MessageRollup", "MessageRollupDelta";
    INSERT INTO "MessageRollup" ("hour", "direction", "orgId", "status", "errorCode", "from", "count", "lastAt")
    SELECT smsrelay_hour(m."createdAt"), m."direction", m."orgId", m."status", k.code, k.sender,
           count(*), max(m."createdAt")
    FROM "MessageLog" m CROSS JOIN LATERAL smsrelay_rollup_key(m) k
    GROUP BY 1, 2, 3, 4, 5, 6;
$$;

-- A TRUNCATE of "MessageLog" fires no row trigger; the rollup empties with it.
CREATE FUNCTION smsrelay_rollup_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE "MessageRollup", "MessageRollupDelta";
    RETURN NULL;
END;
$$;
CREATE TRIGGER "MessageLog_rollup_truncate" AFTER TRUNCATE ON "MessageLog"
    FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_rollup_truncate();

SELECT smsrelay_rollup_rebuild();

DROP INDEX IF EXISTS "MessageLog_direction_createdAt_idx";
CREATE INDEX "MessageLog_direction_createdAt_idx" ON "MessageLog" ("direction", "createdAt")
    INCLUDE ("status", "orgId", "from");
"""

DOWN = """
DROP TRIGGER "MessageLog_rollup_truncate" ON "MessageLog";
DROP FUNCTION smsrelay_rollup_truncate();
DROP FUNCTION smsrelay_rollup_rebuild();
DROP TRIGGER "MessageLog_rollup" ON "MessageLog";
DROP FUNCTION smsrelay_rollup_message();
DROP FUNCTION smsrelay_rollup_key("MessageLog");
DROP TABLE "MessageRollupDelta";
DROP TABLE "MessageRollup";
DROP FUNCTION smsrelay_hour(timestamptz);
DROP INDEX IF EXISTS "MessageLog_direction_createdAt_idx";
CREATE INDEX "MessageLog_direction_createdAt_idx" ON "MessageLog" ("direction", "createdAt")
    INCLUDE ("status", "orgId");
"""


def upgrade() -> None:
    op.get_bind().connection.driver_connection.execute(UP)


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute(DOWN)
