"""Which PostgreSQL this process uses: DATABASE_URL, or the embedded server (started or adopted)."""

from __future__ import annotations

from smsrelay.settings import Settings


def resolve_url(settings: Settings, *, upgrade: bool = True) -> str:
    if settings.database_url:
        url = settings.database_url
    else:
        from smsrelay.store import embedded

        url = embedded.start(settings.smsrelay_home)
    if upgrade:
        # Imported only here: Alembic pulls in SQLAlchemy (about a second of start-up), which
        # read-only commands such as `smsrelay incident status` never need (docs/benchmarks.md).
        from smsrelay.store import migrate

        migrate.upgrade(url)
    return url
