"""the incident autopilot: its actions (and the scoped holds they are), audited like a setting

Revision ID: 0018
Revises: 0022
"""
from alembic import op

revision = "0018"
down_revision = "0022"
branch_labels = None
depends_on = None

# A hold of one sender, destination country or template is a row here that dispatch's
# send_facts looks up (partial index: only live holds are in it, a handful at most), so it takes
# effect on the next send in every process, like "OrgSettings"."smsDisabled".
ACTION = """
CREATE TABLE "AutopilotAction" (
    "id" text PRIMARY KEY,
    "cause" text NOT NULL,
    "kind" text NOT NULL,
    "scopeKind" text NOT NULL,
    "scopeValue" text,
    "orgId" text,
    "dryRun" boolean NOT NULL DEFAULT false,
    "state" text NOT NULL,
    "reason" text NOT NULL,
    "widened" boolean NOT NULL DEFAULT false,
    "details" jsonb NOT NULL DEFAULT '{}'::jsonb,
    "probeMessageId" text,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "updatedAt" timestamptz NOT NULL DEFAULT now(),
    "endedAt" timestamptz,
    "endedBy" text
);
CREATE INDEX "AutopilotAction_createdAt_idx" ON "AutopilotAction" ("createdAt");
CREATE INDEX "AutopilotAction_live_idx" ON "AutopilotAction" ("scopeKind", "scopeValue")
    WHERE "kind" = 'hold' AND NOT "dryRun" AND "endedAt" IS NULL;
"""

# Who applied, moved on or undid an action is recorded by a trigger, as for "SystemSetting":
# the actor and reason service/audit.py sets in the same transaction (or 'sql:<user>').
AUDIT = """
CREATE FUNCTION smsrelay_audit_autopilot_action() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _actor text := coalesce(nullif(current_setting('smsrelay.actor', true), ''), 'sql:' || session_user);
    _reason text := nullif(current_setting('smsrelay.reason', true), '');
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD."state" = NEW."state" AND OLD."endedAt" IS NOT DISTINCT FROM NEW."endedAt" THEN
            RETURN NEW;
        END IF;
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('AutopilotAction', NEW."orgId", 'update', _actor, _reason, to_jsonb(OLD), to_jsonb(NEW));
    ELSE
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('AutopilotAction', NEW."orgId", 'insert', _actor, _reason, NULL, to_jsonb(NEW));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER "AutopilotAction_audit"
    AFTER INSERT OR UPDATE ON "AutopilotAction"
    FOR EACH ROW EXECUTE FUNCTION smsrelay_audit_autopilot_action();
"""


def _run(sql: str) -> None:
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _run(ACTION)
    _run(AUDIT)


def downgrade() -> None:
    _run('DROP TRIGGER "AutopilotAction_audit" ON "AutopilotAction"')
    _run("DROP FUNCTION smsrelay_audit_autopilot_action()")
    _run('DROP TABLE "AutopilotAction"')
