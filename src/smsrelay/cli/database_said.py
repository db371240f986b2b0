"""Which database an operator's command read, said out loud, and the empty one it must not create.

Run from another directory without SMSRELAY_HOME, a command used to start a brand-new embedded
server in ./.smsrelay and answer "No incident" from it. Now an operator's command never creates
the embedded database (only `smsrelay up`, `db upgrade` and `org create` may), and every command
that read one names it: on stderr after its output (so `--json` stays parseable), or in its one
error line when it fails.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smsrelay.settings import Settings

_said: dict[str, str | None] = {"where": None, "note": None}


def reset() -> None:
    _said.update(where=None, note=None)


def describe_url(url: str) -> str:
    """host:port/db of a PostgreSQL URL (never its password), or the socket directory's path."""
    parts = urlsplit(url)
    host = parts.hostname or (parse_qs(parts.query).get("host") or ["local socket"])[0]
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}/{parts.path.lstrip('/') or parts.username or 'postgres'}"


def pgdata(settings: Settings) -> Path:
    return settings.smsrelay_home.expanduser().resolve() / "pgdata"


def describe(settings: Settings, url: str | None = None) -> str:
    if settings.database_url:
        return f"{describe_url(settings.database_url)} (DATABASE_URL)"
    return f"embedded {pgdata(settings)} (SMSRELAY_HOME)"


def missing_embedded(settings: Settings) -> str | None:
    """Why an operator's command must not go on, when it would create an empty embedded database."""
    if settings.database_url:
        return None
    data = pgdata(settings)
    if (data / "PG_VERSION").exists():
        return None
    return (f"no database at {data}: an operator command does not create an empty one; run it in the directory "
            "`smsrelay up` runs in, or set SMSRELAY_HOME to that directory's .smsrelay (or DATABASE_URL)")


def read(where: str) -> None:
    """This command reads the database `where`."""
    _said["where"] = where


def empty() -> None:
    """The database read holds no org at all: probably not the one the operator meant."""
    _said["note"] = "it holds no org: if that is unexpected, set SMSRELAY_HOME or DATABASE_URL"


def suffix() -> str:
    """Appended to a failing command's one line."""
    return f" [database: {_said['where']}]" if _said["where"] else ""


def trailer() -> str | None:
    """The line a successful command ends with on stderr, if it read a database."""
    if not _said["where"]:
        return None
    return f"database: {_said['where']}" + (f"; {_said['note']}" if _said["note"] else "")
