"""job queue schema (procrastinate) and the OrgSettings audit trigger

Revision ID: 0002
Revises: 0001
"""
from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The runbook's mitigations are raw SQL UPDATEs run by an operator, so auditing them cannot
# live in application code: a trigger sees every change, whoever makes it. Our own writes
# name their actor with SET LOCAL smsrelay.actor / smsrelay.reason.
AUDIT_TRIGGER = """
CREATE FUNCTION smsrelay_audit_org_settings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _actor text := coalesce(nullif(current_setting('smsrelay.actor', true), ''), 'sql:' || session_user);
    _reason text := nullif(current_setting('smsrelay.reason', true), '');
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (to_jsonb(OLD) - 'updatedAt') = (to_jsonb(NEW) - 'updatedAt') THEN
            RETURN NEW;
        END IF;
        NEW."updatedAt" := now();
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('OrgSettings', NEW."orgId", 'update', _actor, _reason, to_jsonb(OLD), to_jsonb(NEW));
        RETURN NEW;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('OrgSettings', NEW."orgId", 'insert', _actor, _reason, NULL, to_jsonb(NEW));
        RETURN NEW;
    ELSE
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('OrgSettings', OLD."orgId", 'delete', _actor, _reason, to_jsonb(OLD), NULL);
        RETURN OLD;
    END IF;
END;
$$;
CREATE TRIGGER "OrgSettings_audit"
    BEFORE INSERT OR UPDATE OR DELETE ON "OrgSettings"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_audit_org_settings();
"""


def _run(sql: str) -> None:
    # Straight to psycopg with no parameters, so '%' in the SQL is not read as a placeholder.
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _run(SchemaManager.get_schema())
    _run(AUDIT_TRIGGER)


def downgrade() -> None:
    _run('DROP TRIGGER "OrgSettings_audit" ON "OrgSettings"')
    _run("DROP FUNCTION smsrelay_audit_org_settings()")
