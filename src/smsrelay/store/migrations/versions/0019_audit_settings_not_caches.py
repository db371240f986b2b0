""""SystemSetting" audit: the values the processes cache there (Twilio's balance, the last StatsD
push) are no longer audited; every other key still is, whoever writes it

Revision ID: 0019
Revises: 0018
"""
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# The scheduler refreshes the cached balance every BALANCE_REFRESH_SECONDS, which wrote an
# "AuditLog" row each time (actor sql:<user>: it names none) and appeared in every incident
# report as "mitigation: SMS update". A cache is not a setting anyone chose; the keys are
# domain/audit_kinds.py's CACHE_KEYS, which also recognises the rows written before this.
CACHE_KEYS = ("twilio_balance", "statsd_pushed")


def _function(skip: tuple[str, ...]) -> str:
    keys = ", ".join(f"'{k}'" for k in skip) or "NULL"
    return f"""
CREATE OR REPLACE FUNCTION smsrelay_audit_system_setting() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _actor text := coalesce(nullif(current_setting('smsrelay.actor', true), ''), 'sql:' || session_user);
    _reason text := nullif(current_setting('smsrelay.reason', true), '');
BEGIN
    IF (CASE WHEN TG_OP = 'DELETE' THEN OLD."key" ELSE NEW."key" END) IN ({keys}) THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD."value" = NEW."value" THEN
            RETURN NEW;
        END IF;
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('SystemSetting', NULL, 'update', _actor, _reason, to_jsonb(OLD), to_jsonb(NEW));
        RETURN NEW;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('SystemSetting', NULL, 'insert', _actor, _reason, NULL, to_jsonb(NEW));
        RETURN NEW;
    ELSE
        INSERT INTO "AuditLog" ("tableName", "orgId", "action", "actor", "reason", "before", "after")
        VALUES ('SystemSetting', NULL, 'delete', _actor, _reason, to_jsonb(OLD), NULL);
        RETURN OLD;
    END IF;
END;
$$;
"""


def _run(sql: str) -> None:
    # Straight to psycopg with no parameters, so '%' in the SQL is not read as a placeholder.
    op.get_bind().connection.driver_connection.execute(sql)


def upgrade() -> None:
    _run(_function(CACHE_KEYS))


def downgrade() -> None:
    _run(_function(()))
