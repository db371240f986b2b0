"""message templates: "MessageTemplate" (one per org and name) and its versions

Revision ID: 0022
Revises: 0015
"""
from alembic import op

revision = "0022"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE "MessageTemplate" (
    "id" text PRIMARY KEY,
    "orgId" text NOT NULL REFERENCES "Org" ("id") ON DELETE CASCADE,
    "name" text NOT NULL,
    "version" integer NOT NULL,
    "archivedAt" timestamptz,
    "disabled" jsonb,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "MessageTemplate_orgId_name_key" UNIQUE ("orgId", "name")
);
CREATE TABLE "MessageTemplateVersion" (
    "templateId" text NOT NULL REFERENCES "MessageTemplate" ("id") ON DELETE CASCADE,
    "version" integer NOT NULL,
    "body" text NOT NULL,
    "lint" jsonb NOT NULL,
    "createdBy" text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY ("templateId", "version")
);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute('DROP TABLE "MessageTemplateVersion"')
    op.execute('DROP TABLE "MessageTemplate"')
