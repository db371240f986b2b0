"""`smsrelay db upgrade`: the database schema."""

from __future__ import annotations

import typer

from smsrelay.cli.common import console, database_url

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (embedded database unless DATABASE_URL)."""
    from smsrelay.settings import get_settings

    database_url(get_settings())
    console.print("database is up to date")
