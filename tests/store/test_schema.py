"""store/schema.py describes exactly what the migrations build (procrastinate's own tables aside)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from smsrelay.store.db import sqlalchemy_url
from smsrelay.store.schema_features import metadata


def test_schema_module__matches_the_migrated_database(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    differences = [d for d in diff if "procrastinate" not in str(d)]
    assert differences == [], differences
    assert {"MessageLog", "OrgSettings", "AuditLog", "Alert", "SendSlot", "RateCounter"} <= set(metadata.tables)
