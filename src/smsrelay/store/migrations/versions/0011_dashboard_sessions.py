"""dashboard sessions kept server-side (logout and password changes end them); used login forms

Revision ID: 0011
Revises: 0007
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The session cookie stays signed, but only names a row here: logging out ends that row, and a
# row logged in under another password is ended the first time it is seen, so changing the
# password back does not bring old sessions back. The id is a hash of the cookie's random
# value, so a copy of this table opens no session. Each used login-form token is remembered
# until it would have expired anyway, which makes the form single-use across API processes.
UP = """
CREATE TABLE "DashboardSession" (
    "id" text PRIMARY KEY,
    "user" text NOT NULL,
    "stamp" text NOT NULL,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "expiresAt" timestamptz NOT NULL,
    "endedAt" timestamptz,
    "endReason" text
);
CREATE INDEX "DashboardSession_expiresAt_idx" ON "DashboardSession" ("expiresAt");
CREATE TABLE "DashboardLoginForm" (
    "nonce" text PRIMARY KEY,
    "usedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX "DashboardLoginForm_usedAt_idx" ON "DashboardLoginForm" ("usedAt");
"""

DOWN = """
DROP TABLE "DashboardLoginForm";
DROP TABLE "DashboardSession";
"""


def upgrade() -> None:
    op.get_bind().connection.driver_connection.execute(UP)


def downgrade() -> None:
    op.get_bind().connection.driver_connection.execute(DOWN)
