"""A whole smsrelay on loopback for one test: the simulator, the API and a worker against one
fresh database, each uvicorn server in a thread of its own.

Twilio is always the official SDK speaking HTTP to the simulator; nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Settings
from smsrelay.store.db import psycopg_url
from tests.support.ports import free_port
from tests.support.servers import LoopThread, ThreadedServer
from tests.support.waiting import wait_until


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
        # Generous: three test processes on two cores have kept an in-process API from answering
        # a 403 within httpx's default 5 s (CI). No test here times the API.
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30)

    def create_org(self, name: str = "Acme", numbers: tuple[str, ...] = ("+15017122661",), **kwargs: Any) -> dict:
        from smsrelay.service.tenancy import orgs

        async def go() -> Any:
            async with await psycopg.AsyncConnection.connect(psycopg_url(self.database_url), row_factory=dict_row) as conn:
                return await orgs.create_org(conn, name, numbers=list(numbers), actor="test", **kwargs)

        created = asyncio.run(go())
        return {"id": created.id, "apiKey": created.api_key, "numbers": created.numbers,
                "signingSecret": created.signing_secret}

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
