"""`smsrelay db upgrade`: the database schema."""

from __future__ import annotations

import typer

import smsrelay.cli.database_said as database_said  # not `from smsrelay.cli`: the package imports us
from smsrelay.cli.common import console, database_url

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (embedded database unless DATABASE_URL)."""
    from smsrelay.settings import get_settings

    settings = get_settings()
    # May create the embedded database (its first migration): said, like every command's database.
    database_said.read(database_said.describe(settings))
    database_url(settings)
    console.print("database is up to date")
