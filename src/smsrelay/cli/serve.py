"""`smsrelay up | api | worker | scheduler`: run the service, all of it or one process."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from smsrelay.cli.common import console, database_url, fail, setup_logging, with_runtime

if TYPE_CHECKING:
    from smsrelay.settings import Settings


def up(host: Annotated[str, typer.Option(help="Address the API listens on")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="API port")] = 8000,
       workers: Annotated[int, typer.Option(help="Worker processes")] = 1) -> None:
    """Run everything: database (embedded unless DATABASE_URL), simulator (unless Twilio
    credentials are set), API, worker and scheduler. Ctrl-C stops it all."""
    from smsrelay.processes.supervisor import Supervisor
    from smsrelay.settings import get_settings, up_defaults

    setup_logging()
    settings, overrides = up_defaults(get_settings(), host, port)
    if problem := settings.default_token_problem():
        fail(problem)
    url = database_url(settings)
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
        demo = asyncio.run(with_runtime(settings, url, lambda rt: _ensure_demo_org(rt, settings)))
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
    demo = {"id": created.id, "apiKey": created.api_key, "number": DEMO_NUMBER, "signingSecret": created.signing_secret}
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(demo))
    key_file.chmod(0o600)
    return demo


def api(host: str = "127.0.0.1", port: int = 8000,
        workers: Annotated[int, typer.Option(min=1, max=64, help="Processes sharing the port; one is the "
                                             "Python ceiling of a core, so up to one per core")] = 1) -> None:
    """Run the HTTP API alone (scale out against a shared DATABASE_URL)."""
    import uvicorn

    from smsrelay.settings import get_settings

    setup_logging()
    settings = get_settings()
    if problem := settings.default_token_problem():
        fail(problem)
    url = database_url(settings)
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


def worker(concurrency: Annotated[int, typer.Option(help="Sends in flight at once")] = 20,
           heartbeat: Annotated[float, typer.Option(help="Seconds between worker heartbeats")] = 10.0,
           forward_concurrency: Annotated[Optional[int], typer.Option(
               min=1, help="Forwards to orgs' webhooks in flight at once (default WEBHOOK_CONCURRENCY)")] = None) -> None:
    """Run a worker alone: sends messages and forwards inbound ones, each with its own slots."""
    from smsrelay.processes.worker import run_worker, worker_pool_size
    from smsrelay.service.runtime import Runtime
    from smsrelay.settings import get_settings

    setup_logging()
    settings = get_settings()
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    forwards = forward_concurrency or settings.webhook_concurrency
    rt = Runtime.create(settings, database_url(settings), pool_size=worker_pool_size(concurrency, forwards),
                        name="smsrelay-worker")
    asyncio.run(run_worker(rt, concurrency=concurrency, heartbeat=heartbeat, forward_concurrency=forwards))


def scheduler(tick: Annotated[float, typer.Option(help="Seconds between rounds")] = 30.0) -> None:
    """Run the scheduler alone (one leader among all of them)."""
    import signal

    from smsrelay.processes.scheduler import run_scheduler
    from smsrelay.settings import get_settings
    from smsrelay.service.runtime import Runtime

    setup_logging()
    settings = get_settings()
    rt = Runtime.create(settings, database_url(settings), pool_size=4, name="smsrelay-scheduler")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_scheduler(rt, tick=tick, stop=stop)

    asyncio.run(main())
