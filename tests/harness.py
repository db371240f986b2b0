"""Test harness: real PostgreSQL (a migrated template cloned per test), the simulator, the API
and a worker on loopback, each uvicorn server in a thread of its own.

Twilio is always the official SDK speaking HTTP to the simulator; nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvicorn
from psycopg.rows import dict_row

from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Settings
from smsrelay.store.db import psycopg_url
from smsrelay.store.migrate import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (works for host and socket URLs)."""
    parts = urlsplit(psycopg_url(url))
    return urlunsplit(parts._replace(path="/" + dbname))


class DatabaseFactory:
    """One migrated template per run; every test gets a fresh clone (CREATE DATABASE … TEMPLATE)."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.prefix = f"smsrelay_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = self.prefix + "_tpl"
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(psycopg_url(self.admin_url), autocommit=True)

    def prepare(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        upgrade(with_database(self.admin_url, self.template))

    def clone(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            with contextlib.suppress(Exception), self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ThreadedServer:
    """A uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ThreadedServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class LoopThread:
    """Runs one coroutine (e.g. a worker) on its own event loop in a thread; stop() cancels it."""

    def __init__(self, factory: Callable[[], Any]):
        self.loop = asyncio.new_event_loop()
        self.factory = factory
        self.task: asyncio.Task | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None
        self._has_task = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(self.factory())
        self._has_task.set()
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            self.loop.close()

    def start(self) -> "LoopThread":
        self.thread.start()
        # Until the task exists, stop() would have nothing to cancel and the worker would run
        # on behind a test that stopped it (seen on CI: a message sent after stop_workers()).
        if not self._has_task.wait(timeout=10):
            raise RuntimeError("the loop thread did not start its task")
        return self

    def stop(self) -> None:
        if not self.task.done():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: nothing to cancel
                self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            raise RuntimeError("the loop thread did not stop within 15 s of being cancelled")


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
               what: str | Callable[[], str] = "condition") -> Any:
    """`what` may be a callable, to describe the state at the moment of giving up."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


@dataclass
class Stack:
    """A whole smsrelay on loopback against one fresh database."""

    database_url: str
    settings: Settings
    api: ThreadedServer
    sim: ThreadedServer
    workers: list[LoopThread] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return self.api.url

    def db(self) -> psycopg.Connection:
        return psycopg.connect(psycopg_url(self.database_url), autocommit=True, row_factory=dict_row)

    def sql(self, statement: str, params: Any = None) -> list[dict]:
        with self.db() as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def client(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=10)

    def create_org(self, name: str = "Acme", numbers: tuple[str, ...] = ("+15017122661",), **kwargs: Any) -> dict:
        from smsrelay.service.tenancy import orgs

        async def go() -> Any:
            async with await psycopg.AsyncConnection.connect(psycopg_url(self.database_url), row_factory=dict_row) as conn:
                return await orgs.create_org(conn, name, numbers=list(numbers), actor="test", **kwargs)

        created = asyncio.run(go())
        return {"id": created.id, "apiKey": created.api_key, "numbers": created.numbers}

    def run(self, fn: Callable[[Any], Any], **settings_overrides: Any) -> Any:
        """`await fn(rt)` with a Runtime of this stack (settings optionally changed): how a test
        calls a use case or a scheduler duty directly."""
        from smsrelay.service.runtime import Runtime

        settings = self.settings.model_copy(update=settings_overrides) if settings_overrides else self.settings

        async def go() -> Any:
            rt = Runtime.create(settings, self.database_url, pool_size=3, name="test-direct")
            await rt.open()
            try:
                return await fn(rt)
            finally:
                await rt.close()

        return asyncio.run(go())

    def start_worker(self, concurrency: int = 10, heartbeat: float = 1.0) -> LoopThread:
        from smsrelay.service.runtime import Runtime
        from smsrelay.processes.worker import run_worker

        def factory():
            rt = Runtime.create(self.settings, self.database_url, pool_size=concurrency + 2, name="test-worker")
            return run_worker(rt, concurrency=concurrency, heartbeat=heartbeat, install_signal_handlers=False)

        worker = LoopThread(factory).start()
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers.clear()

    def message(self, message_id: str) -> dict:
        rows = self.sql('SELECT * FROM "MessageLog" WHERE "id" = %s', (message_id,))
        assert rows, f"no message {message_id}"
        return rows[0]

    def wait_status(self, message_id: str, statuses: set[str] | str, timeout: float = 20.0) -> dict:
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        return wait_until(lambda: (m := self.message(message_id))["status"] in wanted and m,
                          timeout=timeout, what=f"{message_id} to reach {wanted}")

    def stop(self) -> None:
        self.stop_workers()
        self.api.stop()
        self.sim.stop()


def build_stack(database_url: str, *, sim_overrides: dict | None = None, start_worker: bool = True,
                settings_overrides: dict | None = None) -> Stack:
    from smsrelay.service.runtime import Runtime
    from smsrelay.simulator.app import create_app as create_sim
    from smsrelay.simulator.config import SimConfig
    from smsrelay.web.app import create_app

    api_port, sim_port = free_port(), free_port()
    fields = dict(
        database_url=database_url,
        twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_AUTH_TOKEN,
        twilio_api_base=f"http://127.0.0.1:{sim_port}",
        simulator_port=sim_port,
        public_base_url=f"http://127.0.0.1:{api_port}",
        twilio_timeout_seconds=5.0,
        # As `smsrelay up` with the simulator: tests' org webhooks listen on loopback.
        webhook_allow_private_networks=True,
    )
    settings = Settings(_env_file=None, **{**fields, **(settings_overrides or {})})
    sim_fields = dict(inbound_url=f"http://127.0.0.1:{api_port}/webhooks/twilio/inbound",
                      callback_latency_ms=50, speed_long_code=50, callback_retry_base_ms=50)
    sim_config = SimConfig(_env_file=None, **{**sim_fields, **(sim_overrides or {})})
    sim = ThreadedServer(create_sim(settings, sim_config), sim_port).start()
    rt = Runtime.create(settings, database_url, pool_size=10, name="test-api")
    api = ThreadedServer(create_app(rt), api_port).start()
    stack = Stack(database_url=database_url, settings=settings, api=api, sim=sim)
    if start_worker:
        stack.start_worker()
    return stack


def admin_database_url() -> tuple[str, Any]:
    """TEST_DATABASE_URL, or an embedded server in a temporary directory (returned too, so the
    caller keeps it alive for as long as it needs the server)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url, None
    import tempfile

    tmp = tempfile.TemporaryDirectory(prefix="smsrelay-test-pg-")
    return embedded_admin_url(Path(tmp.name)), tmp


def embedded_admin_url(home: Path) -> str:
    from smsrelay.store import embedded

    return with_database(embedded.start(home), "postgres")
