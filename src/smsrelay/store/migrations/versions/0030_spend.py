"""spend: Twilio's price on "MessageLog", destination prices, per-org spend caps and their ledger

Revision ID: 0030
Revises: 0023
"""
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

# "price" is what Twilio says it charged, fetched after the message is final (callbacks do not
# carry it): NULL until then, when usage estimates it from "segments" × "DestinationPrice". The
# partial index is the fetch's work list and holds only final, sent, unpriced messages, so it
# stays small; a status update to final touches it once, the price write once more.
# "OrgSpendDay" is written only for orgs with an "OrgSpendPolicy" (by the send's guard), so
# traffic of orgs without caps pays nothing.
UP = """
ALTER TABLE "MessageLog" ADD COLUMN "price" numeric(12, 5), ADD COLUMN "priceUnit" text;
CREATE INDEX "MessageLog_unpriced_idx" ON "MessageLog" ("finalAt")
    WHERE "direction" = 'outbound' AND "price" IS NULL AND "twilioSid" IS NOT NULL AND "finalAt" IS NOT NULL;
CREATE TABLE "DestinationPrice" (
    "isoCountry" text PRIMARY KEY,
    "price" numeric(14, 5) NOT NULL,
    "priceUnit" text NOT NULL,
    "fetchedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE "OrgSpendPolicy" (
    "orgId" text PRIMARY KEY REFERENCES "Org"("id") ON DELETE CASCADE,
    "dailySpendCap" numeric(14, 5),
    "monthlySpendCap" numeric(14, 5),
    "dailySegmentCap" integer,
    "monthlySegmentCap" integer,
    "priceCeiling" numeric(14, 5),
    "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE "OrgSpendDay" (
    "orgId" text NOT NULL REFERENCES "Org"("id") ON DELETE CASCADE,
    "day" date NOT NULL,
    "segments" bigint NOT NULL DEFAULT 0,
    "cost" numeric(14, 5) NOT NULL DEFAULT 0,
    PRIMARY KEY ("orgId", "day")
);
-- A cap is a setting like "OrgSettings": who changed it, and why, goes to "AuditLog" the same way.
CREATE FUNCTION smsrelay_audit_org_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _actor text := coalesce(nullif(current_setting('smsrelay.actor', true), ''), 'sql:' || session_user);
    _reason text := nullif(current_setting('smsrelay.reason', true), '');
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES (TG_TABLE_NAME, OLD."orgId", 'delete', _actor, _reason, to_jsonb(OLD), NULL);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'updatedAt') = (to_jsonb(NEW) - 'updatedAt') THEN
        RETURN NEW;
    END IF;
    INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
    VALUES (TG_TABLE_NAME, NEW."orgId", lower(TG_OP), _actor, _reason,
            CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) END, to_jsonb(NEW));
    RETURN NEW;
END;
$$;
CREATE TRIGGER "OrgSpendPolicy_audit"
    BEFORE INSERT OR UPDATE OR DELETE ON "OrgSpendPolicy"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_audit_org_row();
"""

DOWN = """
DROP TABLE "OrgSpendDay";
DROP TABLE "OrgSpendPolicy";
DROP FUNCTION smsrelay_audit_org_row();
DROP TABLE "DestinationPrice";
DROP INDEX "MessageLog_unpriced_idx";
ALTER TABLE "MessageLog" DROP COLUMN "price", DROP COLUMN "priceUnit";
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
