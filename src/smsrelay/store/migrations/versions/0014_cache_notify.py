"""NOTIFY on changes to what the API processes cache (keys, orgs, their settings and senders)

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLES = ("ApiKey", "Org", "OrgSettings", "PhoneNumber")

# Statement-level: one notification per statement whatever it touched, and nothing at all per
# row. The payload names the table; the listeners (service/tenancy/cache.py) evict everything.
# A notification is delivered at commit, so a listener never hears of a change it cannot see yet.
FUNCTION = """
CREATE FUNCTION smsrelay_notify_tenancy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('smsrelay_tenancy', TG_TABLE_NAME);
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    for table in TABLES:
        op.execute(f'CREATE TRIGGER "{table}_notify_tenancy" AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE '
                   f'ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION smsrelay_notify_tenancy()')


def downgrade() -> None:
    for table in TABLES:
        op.execute(f'DROP TRIGGER "{table}_notify_tenancy" ON "{table}"')
    op.execute("DROP FUNCTION smsrelay_notify_tenancy()")
