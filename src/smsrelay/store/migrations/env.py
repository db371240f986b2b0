from alembic import context
from sqlalchemy import create_engine, pool

from smsrelay.store.schema_features import metadata

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            # Two processes starting at once (API and worker) must not migrate concurrently.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7361001)")
            context.run_migrations()
    engine.dispose()


run_migrations_online()
