"""Which PostgreSQL this process uses: DATABASE_URL, or the embedded server (started or adopted)."""

from __future__ import annotations

from smsrelay.settings import Settings
from smsrelay.store import embedded, migrate


def resolve_url(settings: Settings, *, upgrade: bool = True) -> str:
    if settings.database_url:
        url = settings.database_url
    else:
        url = embedded.start(settings.smsrelay_home)
    if upgrade:
        migrate.upgrade(url)
    return url
