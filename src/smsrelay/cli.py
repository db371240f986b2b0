"""The `smsrelay` command: run the service, and do what the on-call runbook asks of a human."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console

from smsrelay.settings import Settings, get_settings, up_defaults

app = typer.Typer(help="Multi-tenant SMS on Twilio, with incident response built in.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
org_app = typer.Typer(help="Orgs and their numbers.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # one line, however narrow the terminal
T = TypeVar("T")


def fail(message: str, code: int = 1) -> None:
    err.print(f"smsrelay: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def _setup_logging() -> None:
    from smsrelay import logs

    logs.setup()


def command_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Turn expected failures into one readable line and a non-zero exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from psycopg import OperationalError
        from psycopg.errors import UndefinedColumn, UndefinedFunction, UndefinedTable

        from smsrelay.service.problems import Problem

        try:
            return fn(*args, **kwargs)
        except Problem as exc:
            fail(f"{exc.message} ({exc.code})", 2 if exc.status < 500 else 1)
        except (UndefinedTable, UndefinedColumn, UndefinedFunction) as exc:
            first = str(exc).strip().splitlines()[0]
            fail(f"the database schema is older than this smsrelay ({first}); run `smsrelay db upgrade`")
        except OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            fail(f"cannot reach the database: {first}")
        except Exception as exc:  # noqa: BLE001 - a CLI prints one line, not a trace
            if type(exc).__name__ in ("Exit", "Abort"):
                raise
            fail(f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    return wrapper


def _database_url(settings: Settings) -> str:
    from smsrelay.database import resolve_url

    return resolve_url(settings)


async def _with_runtime(settings: Settings, url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    from smsrelay.service.runtime import Runtime

    rt = Runtime.create(settings, url, pool_size=2, name="smsrelay-cli")
    await rt.open()
    try:
        return await fn(rt)
    finally:
        await rt.close()


def run_with_runtime(fn: Callable[[Any], Awaitable[T]]) -> T:
    """For operators' commands. A DATABASE_URL is one the service processes keep migrated, so
    it is not migrated here (Alembic alone is a second of start-up, against a 2 s budget); the
    embedded database, which nothing else may have started yet, is."""
    from smsrelay.database import resolve_url

    settings = get_settings()
    return asyncio.run(_with_runtime(settings, resolve_url(settings, upgrade=not settings.database_url), fn))


# --- running the service -------------------------------------------------------------------

@app.command()
@command_errors
def up(host: Annotated[str, typer.Option(help="Address the API listens on")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="API port")] = 8000,
       workers: Annotated[int, typer.Option(help="Worker processes")] = 1) -> None:
    """Run everything: database (embedded unless DATABASE_URL), simulator (unless Twilio
    credentials are set), API, worker and scheduler. Ctrl-C stops it all."""
    from smsrelay.processes.supervisor import Supervisor

    _setup_logging()
    settings, overrides = up_defaults(get_settings(), host, port)
    if problem := settings.default_token_problem():
        fail(problem)
    url = _database_url(settings)
    env = dict(os.environ, DATABASE_URL=url, **overrides)
    sup = Supervisor(env)
    if settings.uses_simulator:
        env.setdefault("SIM_INBOUND_URL", f"http://{host}:{port}/webhooks/twilio/inbound")
        sup.start("simulator", ["sim", "--host", settings.simulator_host, "--port", str(settings.simulator_port)])
    sup.start("api", ["api", "--host", host, "--port", str(port)])
    for i in range(workers):
        sup.start(f"worker-{i + 1}", ["worker"])
    sup.start("scheduler", ["scheduler"])
    try:
        demo = asyncio.run(_with_runtime(settings, url, lambda rt: _ensure_demo_org(rt, settings)))
    except BaseException:
        sup.stop()
        raise
    base = f"http://{host}:{port}"
    console.print(f"\n[bold]smsrelay is up[/bold]  API {base}/v1  ·  docs {base}/docs  ·  metrics {base}/metrics"
                  f"  ·  dashboard {base}/dashboard")
    console.print(f"Twilio: {'simulator at ' + (settings.twilio_base_url or '') if settings.uses_simulator else 'api.twilio.com'}")
    console.print(f"Database: {'embedded in ' + str(settings.smsrelay_home) if not settings.database_url else 'DATABASE_URL'}")
    if demo:
        console.print(f"Demo org {demo['id']} sends from {demo['number']}; its API key: [bold]{demo['apiKey']}[/bold]")
        console.print(f"Try: curl -s {base}/v1/messages -H 'Authorization: Bearer {demo['apiKey']}' "
                      "-H 'Content-Type: application/json' -d '{\"to\": \"+14155552671\", \"body\": \"Hello\"}'")
    from smsrelay.web.dashboard.auth import local_password

    password = local_password(settings)
    if password:
        console.print(f"Dashboard {base}/dashboard  user: {settings.dashboard_admin_user}  password: {password}",
                      markup=False)
    console.print("Ctrl-C stops everything.\n")
    try:
        code = sup.wait()
    finally:
        sup.stop()
    raise typer.Exit(code)


DEMO_NUMBER = "+15017122661"


async def _ensure_demo_org(rt: Any, settings: Settings) -> dict | None:
    """A demo org for the simulator, its key kept in $SMSRELAY_HOME so every `up` can show it."""
    from smsrelay.service.tenancy import orgs
    from smsrelay.store import sql

    if not settings.uses_simulator:
        return None
    key_file = Path(settings.smsrelay_home) / "demo-org.json"
    async with rt.pool.connection() as conn:
        if key_file.exists():
            demo = json.loads(key_file.read_text())
            if await sql.one(conn, "get_org", org_id=demo["id"]):
                return demo
        created = await orgs.create_org(conn, "Demo org", numbers=[DEMO_NUMBER], actor="smsrelay up")
    demo = {"id": created.id, "apiKey": created.api_key, "number": DEMO_NUMBER}
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(demo))
    key_file.chmod(0o600)
    return demo


@app.command()
@command_errors
def api(host: str = "127.0.0.1", port: int = 8000,
        workers: Annotated[int, typer.Option(min=1, max=64, help="Processes sharing the port; one is the "
                                             "Python ceiling of a core, so up to one per core")] = 1) -> None:
    """Run the HTTP API alone (scale out against a shared DATABASE_URL)."""
    import uvicorn

    _setup_logging()
    settings = get_settings()
    if problem := settings.default_token_problem():
        fail(problem)
    url = _database_url(settings)
    # log_config=None: uvicorn logs through the root handlers, so numbers are masked there too.
    options = {"host": host, "port": port, "log_level": "warning", "access_log": False, "log_config": None}
    if workers > 1:
        # Each process builds its own app (and pool) from the environment: the resolved database,
        # already migrated here, once.
        os.environ["DATABASE_URL"] = url
        uvicorn.run("smsrelay.web.app:from_environment", factory=True, workers=workers, **options)
        return
    from smsrelay.web.app import from_environment

    uvicorn.run(from_environment(url), **options)


@app.command()
@command_errors
def worker(concurrency: Annotated[int, typer.Option(help="Sends in flight at once")] = 20,
           heartbeat: Annotated[float, typer.Option(help="Seconds between worker heartbeats")] = 10.0,
           forward_concurrency: Annotated[Optional[int], typer.Option(
               min=1, help="Forwards to orgs' webhooks in flight at once (default WEBHOOK_CONCURRENCY)")] = None) -> None:
    """Run a worker alone: sends messages and forwards inbound ones, each with its own slots."""
    from smsrelay.service.runtime import Runtime
    from smsrelay.processes.worker import run_worker

    _setup_logging()
    settings = get_settings()
    forwards = forward_concurrency or settings.webhook_concurrency
    # A forward holds a connection only to read the message and to record the outcome, never
    # during the HTTP call: a few more connections serve all its slots.
    rt = Runtime.create(settings, _database_url(settings), pool_size=concurrency + min(forwards, 4) + 2,
                        name="smsrelay-worker")
    asyncio.run(run_worker(rt, concurrency=concurrency, heartbeat=heartbeat, forward_concurrency=forwards))


@app.command()
@command_errors
def scheduler(tick: Annotated[float, typer.Option(help="Seconds between rounds")] = 30.0) -> None:
    """Run the scheduler alone (one leader among all of them)."""
    import signal

    from smsrelay.service.runtime import Runtime
    from smsrelay.processes.scheduler import run_scheduler

    _setup_logging()
    settings = get_settings()
    rt = Runtime.create(settings, _database_url(settings), pool_size=4, name="smsrelay-scheduler")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_scheduler(rt, tick=tick, stop=stop)

    asyncio.run(main())


@db_app.command("upgrade")
@command_errors
def db_upgrade() -> None:
    """Apply every migration (embedded database unless DATABASE_URL)."""
    _database_url(get_settings())
    console.print("database is up to date")


# --- orgs and sending ----------------------------------------------------------------------

@org_app.command("create")
@command_errors
def org_create(name: str,
               number: Annotated[Optional[list[str]], typer.Option("--number", help="Sender number, E.164")] = None,
               messaging_service: Annotated[Optional[str], typer.Option(help="Messaging Service SID (MG…)")] = None,
               webhook: Annotated[Optional[str], typer.Option(help="URL inbound SMS are forwarded to")] = None,
               region: Annotated[str, typer.Option(help="Default region for national numbers")] = "US",
               as_json: Annotated[bool, typer.Option("--json", help="Print {\"id\", \"apiKey\"}")] = False) -> None:
    """Create an org with its sender numbers; prints its id and a new API key (shown once)."""
    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> Any:
        async with rt.pool.connection() as conn:
            return await orgs.create_org(conn, name, numbers=number or [], messaging_service_sid=messaging_service,
                                         default_region=region.upper(), inbound_webhook_url=webhook, actor="cli")

    created = run_with_runtime(go)
    if as_json:
        print(json.dumps({"id": created.id, "apiKey": created.api_key, "numbers": created.numbers}))
    else:
        console.print(f"org {created.id} ({created.name}) numbers: {', '.join(created.numbers) or '-'}")
        console.print(f"API key (shown once): {created.api_key}", markup=False)


@app.command()
@command_errors
def send(text: str, org: Annotated[str, typer.Option(help="Org id")],
         to: Annotated[str, typer.Option(help="Recipient, E.164")],
         from_: Annotated[Optional[str], typer.Option("--from", help="Sender number")] = None,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Queue an SMS for an org, exactly as the API would."""
    from smsrelay.service.outbound import messages

    async def go(rt: Any) -> Any:
        async with rt.pool.connection() as conn:
            return await messages.accept_idempotent(conn, org, to=to, body=text, from_=from_, idempotency_key=None)

    _, body = run_with_runtime(go)
    if as_json:
        print(json.dumps(body))
    else:
        console.print(f"{body['id']} {body['status']} → {body['to']} ({body['segments']} segment(s), {body['encoding']})")


key_app = typer.Typer(help="An org's API keys: shown once, stored hashed, revocable.", no_args_is_help=True)
org_app.add_typer(key_app, name="key")


@key_app.command("create")
@command_errors
def key_create(org: str, name: Annotated[Optional[str], typer.Option(help="A label for the key")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Issue a new API key for an org (printed once; only its hash is kept)."""
    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> str:
        async with rt.pool.connection() as conn, conn.transaction():
            await orgs.get_org(conn, org)
            return await orgs.issue_key(conn, org, name=name)

    key = run_with_runtime(go)
    print(json.dumps({"orgId": org, "apiKey": key}) if as_json else key)


@key_app.command("list")
@command_errors
def key_list(org: str) -> None:
    """An org's keys: id, prefix, label, created, revoked (never the key itself)."""
    from rich.table import Table

    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> list:
        async with rt.pool.connection() as conn:
            return await orgs.list_keys(conn, org)

    table = Table("id", "prefix", "name", "created", "revoked")
    for k in run_with_runtime(go):
        table.add_row(k["id"], k["prefix"] + "…", k["name"] or "", str(k["createdAt"]), str(k["revokedAt"] or ""))
    console.print(table)


@key_app.command("revoke")
@command_errors
def key_revoke(org: str, key_id: str) -> None:
    """Revoke a key at once: its next request answers 401."""
    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> None:
        async with rt.pool.connection() as conn:
            await orgs.revoke_key(conn, org, key_id)

    run_with_runtime(go)
    console.print(f"revoked {key_id}")


def _mount_simulator() -> None:
    # The simulator is a separate program that happens to ship with us; only the CLI mounts it.
    from smsrelay.simulator.cli import sim_app

    app.add_typer(sim_app, name="sim")


_mount_simulator()

from smsrelay.cli_alerts import alerts_app  # noqa: E402 - it imports this module

app.add_typer(alerts_app, name="alerts")

from smsrelay import cli_incident  # noqa: E402 - it imports this module

cli_incident.register(app, org_app)

from smsrelay import cli_guardrails  # noqa: E402 - it imports this module

cli_guardrails.register(app, org_app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
