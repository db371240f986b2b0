"""spend: Twilio's price on "MessageLog", destination prices, per-org spend caps and their ledger

Revision ID: 0030
Revises: 0023
"""
from alembic import op

revision = "0030"
down_revision = "0023"
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
"""

DOWN = """
DROP TABLE "OrgSpendDay";
DROP TABLE "OrgSpendPolicy";
DROP TABLE "DestinationPrice";
DROP INDEX "MessageLog_unpriced_idx";
ALTER TABLE "MessageLog" DROP COLUMN "price", DROP COLUMN "priceUnit";
"""


def upgrade() -> None:
    op.execute(UP)


def downgrade() -> None:
    op.execute(DOWN)
