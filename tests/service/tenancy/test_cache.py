"""The per-process cache of keys and orgs: every change to the tables it comes from evicts it in
every process (migration 0014's NOTIFY), a lost listener means no cache until it is back, and a
revocation is refused at once by every API process whatever its cache holds."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
from psycopg.rows import dict_row

from smsrelay.service.runtime import Runtime
from smsrelay.service.tenancy import cache as cache_module
from smsrelay.service.tenancy.cache import TenancyCache
from smsrelay.store.db import psycopg_url
from smsrelay.web.app import create_app
from smsrelay.web.deps import tenancy_cache
from tests.support.servers import ThreadedServer
from tests.support.waiting import wait_until

TO = "+14155552671"


async def _await(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out waiting"
        await asyncio.sleep(0.02)


def _in_db(database_url: str, fn):
    async def go():
        async with await psycopg.AsyncConnection.connect(psycopg_url(database_url), autocommit=True,
                                                         row_factory=dict_row) as conn:
            return await fn(conn)
    return asyncio.run(go())


async def _kill_listener(conn) -> None:
    await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = %s AND datname = current_database()",
                       (cache_module.LISTENER_NAME,))


def test_every_change_to_keys_orgs_settings_or_numbers__evicts_every_cache(stack):
    org = stack.create_org()
    statements = [
        ('UPDATE "OrgSettings" SET "landlinePolicy" = %s WHERE "orgId" = %s', ("block", org["id"])),
        ('UPDATE "ApiKey" SET "name" = %s WHERE "orgId" = %s', ("renamed", org["id"])),
        ('UPDATE "Org" SET "name" = %s WHERE "id" = %s', ("Renamed", org["id"])),
        ('UPDATE "PhoneNumber" SET "isDefault" = %s WHERE "orgId" = %s', (False, org["id"])),
    ]

    async def go(conn):
        caches = [TenancyCache(), TenancyCache()]  # two API processes' caches
        for c in caches:
            c.start(stack.database_url)
        try:
            await _await(lambda: all(c.live for c in caches))
            for statement, params in statements:
                for c in caches:
                    assert await c.org(conn, org["id"]) is not None
                    assert c._orgs, "a live cache keeps what it read"
                before = [c.generation for c in caches]
                await conn.execute(statement, params)
                await _await(lambda: all(c.generation > g for c, g in zip(caches, before)))
                assert not any(c._orgs for c in caches), statement
        finally:
            for c in caches:
                await c.stop()

    _in_db(stack.database_url, go)


def test_listener_lost__cache_cleared_and_bypassed_until_it_is_back(stack, monkeypatch):
    org = stack.create_org()

    async def go(conn):
        c = TenancyCache()
        c.start(stack.database_url)
        try:
            await _await(lambda: c.live)
            await c.org(conn, org["id"])
            assert c._orgs
            monkeypatch.setattr(cache_module, "RETRY_SECONDS", 3600)
            await _kill_listener(conn)
            await _await(lambda: not c.live)
            assert not c._orgs, "a lost listener must clear the cache"
            # Nothing is announced now: what is read is not kept, and the next read is fresh.
            await conn.execute('UPDATE "OrgSettings" SET "defaultRegion" = %s WHERE "orgId" = %s', ("GB", org["id"]))
            assert (await c.org(conn, org["id"]))["defaultRegion"] == "GB"
            assert not c._orgs
        finally:
            await c.stop()

    _in_db(stack.database_url, go)


def test_listener_back__serves_the_cache_again(stack):
    org = stack.create_org()

    async def go(conn):
        c = TenancyCache()
        c.start(stack.database_url)
        try:
            await _await(lambda: c.live)
            generation = c.generation
            await _kill_listener(conn)
            await _await(lambda: c.live and c.generation > generation)
            await c.org(conn, org["id"])
            assert c._orgs
        finally:
            await c.stop()

    _in_db(stack.database_url, go)


def test_two_api_processes__a_revoked_key_is_refused_by_both_at_once(make_stack):
    stack = make_stack(start_worker=False)
    rt = Runtime.create(stack.settings, stack.database_url, pool_size=4, name="test-api-2")
    second = ThreadedServer(create_app(rt)).start()
    try:
        org = stack.create_org()
        headers = {"Authorization": f"Bearer {org['apiKey']}"}
        apps = [stack.api_url, second.url]
        for url in apps:
            assert httpx.post(f"{url}/v1/messages", json={"to": TO, "body": "hi"}, headers=headers).status_code == 202
        caches = [tenancy_cache(stack.api.server.config.app.state.runtime), tenancy_cache(rt)]
        wait_until(lambda: all(c._keys for c in caches), what="both processes caching the key")
        stack.sql('UPDATE "ApiKey" SET "revokedAt" = now() WHERE "orgId" = %s', (org["id"],))
        # No waiting for the notification: the accept statement checks the key itself.
        for url in apps:
            r = httpx.post(f"{url}/v1/messages", json={"to": TO, "body": "hi"}, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 2
        wait_until(lambda: not any(c._keys for c in caches), what="both caches evicted")
    finally:
        second.stop()


def test_two_api_processes__a_disabled_org_is_held_by_both_within_a_second(make_stack):
    """The runbook's org switch, as it writes it, reaches every API process's cached org by
    NOTIFY: within a second each one's 202 says the message is held (and it is kept, queued)."""
    import time

    stack = make_stack(start_worker=False)
    rt = Runtime.create(stack.settings, stack.database_url, pool_size=4, name="test-api-2")
    second = ThreadedServer(create_app(rt)).start()
    try:
        org = stack.create_org()
        headers = {"Authorization": f"Bearer {org['apiKey']}"}
        apps = [stack.api_url, second.url]
        for url in apps:
            r = httpx.post(f"{url}/v1/messages", json={"to": TO, "body": "hi"}, headers=headers)
            assert r.status_code == 202 and "held" not in r.json(), r.text
        caches = [tenancy_cache(stack.api.server.config.app.state.runtime), tenancy_cache(rt)]
        wait_until(lambda: all(c._orgs for c in caches), what="both processes caching the org")
        generations = [c.generation for c in caches]
        stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
        committed = time.monotonic()
        wait_until(lambda: all(c.generation > g for c, g in zip(caches, generations)), timeout=10,
                   what="both caches evicted by the notification")
        took = time.monotonic() - committed
        assert took < 1.0, f"the org switch reached the API processes after {took:.2f} s"
        for url in apps:
            r = httpx.post(f"{url}/v1/messages", json={"to": TO, "body": "held?"}, headers=headers)
            assert r.status_code == 202 and r.json()["held"]["reason"] == "org_disabled", r.text
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "status" = %s', ("queued",))[0]["n"] == 4
    finally:
        second.stop()
