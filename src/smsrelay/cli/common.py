"""What every `smsrelay` command shares: the consoles, `fail`, the one error translator, the
actor named in the audit log, JSON output, and running a use case against the database.

Imported by the command groups, never the other way round. It imports nothing heavy at module
level: the database driver, httpx and the service layer are loaded only when a command (or an
error) needs them, so `smsrelay lint` or `--help` start quickly.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup
from typer.exceptions import TyperException

import smsrelay.cli.database_said as database_said  # not `from smsrelay.cli`: the package imports us

if TYPE_CHECKING:
    from smsrelay.settings import Settings

T = TypeVar("T")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # one line, however narrow the terminal

Since = Annotated[str, typer.Option("--since", help="Window ending now: 30m, 1h, 2d")]

# The shape of the ids we generate (domain/ids.py): such a value is an id, looked up by the command.
_GENERATED_ORG_ID = re.compile(r"org_[0-9A-HJKMNP-TV-Z]{26}")


def org_ref(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """An ORG argument or --org option names an org by its id or its name: a name is turned into
    the id here (one lookup), so every command goes on with an id; an ambiguous name is refused
    with its candidates."""
    if value is None or ctx.resilient_parsing or _GENERATED_ORG_ID.fullmatch(value):
        return value
    from smsrelay.service.tenancy import orgs

    async def resolve(rt: Any) -> str:
        async with rt.pool.connection() as conn:
            return await orgs.resolve_org(conn, value)

    return run_with_runtime(resolve)


OrgOpt = Annotated[Optional[str], typer.Option("--org", help="Only this org (id or name)", callback=org_ref)]


def fail(message: str, code: int = 1) -> None:
    err.print(f"smsrelay: {message}{database_said.suffix()}", markup=False, highlight=False)
    database_said.reset()  # said in this line: no second line after it
    raise typer.Exit(code)


def one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return (text or type(exc).__name__)[:300]


def explain(exc: Exception) -> tuple[str, int]:
    """The one line and exit code for a failure no command handled itself: 2 for the caller's
    mistake, 1 for anything else."""
    import psycopg
    from psycopg.errors import UndefinedColumn, UndefinedFunction, UndefinedTable

    from smsrelay.service.problems import Problem

    if isinstance(exc, Problem):
        return f"{exc.message} ({exc.code})", 2 if exc.status < 500 else 1
    # SQLAlchemy (Alembic, in `resolve_url`) wraps the driver's error; the driver's says it best.
    original = getattr(exc, "orig", None)
    if isinstance(original, psycopg.Error):
        exc = original
    if isinstance(exc, (UndefinedTable, UndefinedColumn, UndefinedFunction)):
        # The server's primary message names the missing relation; the rest quotes our SQL.
        missing = exc.diag.message_primary or one_line(exc)
        return f"the database schema is older than this smsrelay ({missing}); run `smsrelay db upgrade`", 1
    if isinstance(exc, psycopg.OperationalError):  # psycopg_pool's PoolTimeout is one too
        return f"cannot reach the database: {one_line(exc)}", 1
    origin = _http_origin(exc)
    if origin:
        return f"cannot reach {origin}: {one_line(exc)}", 1
    return f"{type(exc).__name__}: {one_line(exc)}", 1


def _http_origin(exc: Exception) -> str | None:
    """scheme://host:port of an httpx transport failure (the simulator, a webhook), else None."""
    import sys

    httpx = sys.modules.get("httpx")  # not loaded: the failure cannot be one of its own
    if httpx is None or not isinstance(exc, httpx.TransportError):
        return None
    try:
        url = exc.request.url
    except RuntimeError:  # raised before a request was attached
        return "the server"
    return f"{url.scheme}://{url.netloc.decode()}"


class CommandGroup(TyperGroup):
    """The root group: whatever a command raises that is not the CLI's own exit becomes one
    readable line on stderr and a non-zero exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        database_said.reset()
        try:
            result = super().invoke(ctx)
        except typer.Exit as exc:
            if exc.exit_code == 0:
                _say_database()
            raise
        except (typer.Abort, TyperException):  # usage errors: typer prints them
            raise
        except Exception as exc:  # noqa: BLE001 - a CLI prints one line, not a trace
            fail(*explain(exc))
        _say_database()
        return result


def _say_database() -> None:
    line = database_said.trailer()
    if line:
        err.print(line, markup=False, highlight=False, style="dim")
    database_said.reset()


def actor() -> str:
    """Who a write is recorded as in "AuditLog"."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - some containers have no user name
        return "cli"


def print_json(data: Any) -> None:
    """--json output of the operators' commands: indented, dates and decimals as strings."""
    print(json.dumps(data, indent=2, default=str))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    out = Table(title=title, title_justify="left")
    for col in columns:
        out.add_column(col, overflow="fold")
    for row in rows:
        out.add_row(*("-" if v is None else str(v) for v in row))
    console.print(out)


def setup_logging() -> None:
    from smsrelay import logs

    logs.setup()


def database_url(settings: Settings) -> str:
    """The database the service processes use, migrated (the embedded one started if need be)."""
    from smsrelay.database import resolve_url

    return resolve_url(settings)


async def with_runtime(settings: Settings, url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    from smsrelay.service.runtime import Runtime

    # Four connections at most: `incident diagnose` asks three questions at once.
    rt = Runtime.create(settings, url, pool_size=4, name="smsrelay-cli")
    await rt.open()
    try:
        return await fn(rt)
    finally:
        await rt.close()


async def _probe_then_run(settings: Settings, url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    import psycopg

    from psycopg.rows import dict_row

    from smsrelay.store import sql
    from smsrelay.store.db import psycopg_url

    # A pool retries an unreachable server for its whole timeout, logging each attempt; one
    # direct attempt fails fast with the driver's own reason.
    probe = await psycopg.AsyncConnection.connect(psycopg_url(url), connect_timeout=5, row_factory=dict_row)
    try:
        if not (await sql.one(probe, "any_org"))["present"]:
            database_said.empty()
    except psycopg.errors.UndefinedTable:
        pass  # the command itself says the schema is missing, in its own words
    finally:
        await probe.close()
    return await with_runtime(settings, url, fn)


def preload(module: str) -> None:
    """Import `module` on a thread while this one starts the database and waits on its queries:
    the Twilio SDK and aiohttp are a quarter of a second of imports that `incident diagnose`
    needs only once its queries are under way. Imports are CPU-bound (the GIL), so only the
    waits overlap; the import lock makes the use case's own import wait for this one."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name=f"preload {module}", daemon=True).start()


def run_with_runtime(fn: Callable[[Any], Awaitable[T]], *, may_create: bool = False) -> T:
    """For operators' commands. A DATABASE_URL is one the service processes keep migrated, so
    it is not migrated here (Alembic alone is a second of start-up, against a 2 s budget); the
    embedded database, which nothing else may have started yet, is. An embedded database that
    does not exist is refused rather than created empty, unless `may_create` (`org create`: the
    first thing one does with a new installation)."""
    from smsrelay.database import resolve_url
    from smsrelay.settings import get_settings

    settings = get_settings()
    missing = None if may_create else database_said.missing_embedded(settings)
    if missing:
        fail(missing, 2)
    database_said.read(database_said.describe(settings))
    url = resolve_url(settings, upgrade=not settings.database_url)
    return asyncio.run(_probe_then_run(settings, url, fn))


def with_conn(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run fn(conn, *args, **kwargs) on one pooled connection."""

    async def go(rt: Any) -> T:
        async with rt.pool.connection() as conn:
            return await fn(conn, *args, **kwargs)

    return run_with_runtime(go)
