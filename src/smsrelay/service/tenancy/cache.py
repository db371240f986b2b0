"""A per-process cache of what an accept reads about its caller: API key hash → key and org, and
the org's sending settings and senders (org_for_send). Migration 0014's triggers NOTIFY
`smsrelay_tenancy` on every change to the tables they come from; each API process LISTENs on a
connection of its own and forgets everything on any notification (such changes are rare, so
evicting all is simpler than being precise and cannot be wrong).

The cache is served only while its listener is connected: a lost listener clears it and every
lookup goes to the database until the listener is back (and has cleared it again, since what
changed in between was never announced). A lookup that started before an eviction is not kept
(the generation check), so a slow read never re-caches what a notification just invalidated.
The accept statement re-checks the key, the policies and the sender anyway: the cache decides
only how much Python can check before the one round trip."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection

from smsrelay.store import sql
from smsrelay.store.db import psycopg_url

log = logging.getLogger(__name__)

LISTENER_NAME = "smsrelay-tenancy-listener"
# A silent network loss shows only when the listener asks: it pings when nothing came for this long.
PING_SECONDS = 5.0
RETRY_SECONDS = 0.5


class TenancyCache:
    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self.generation = 0
        self.live = False
        self._keys: dict[str, dict[str, Any]] = {}
        self._orgs: dict[str, dict[str, Any]] = {}
        self._task: asyncio.Task | None = None

    def evict(self) -> None:
        self.generation += 1
        self._keys.clear()
        self._orgs.clear()

    def _keep(self, store: dict[str, dict[str, Any]], name: str, value: dict[str, Any], generation: int) -> None:
        if self.live and generation == self.generation:
            if len(store) >= self.max_entries:
                store.clear()
            store[name] = value

    async def key(self, conn: AsyncConnection, key_hash: str) -> dict[str, Any] | None:
        """{"id", "orgId"} of a live key, None for an unknown or revoked one (not cached)."""
        return await self._read(self._keys, key_hash, lambda: sql.one(conn, "api_key_by_hash", key_hash=key_hash))

    async def org(self, conn: AsyncConnection, org_id: str, *, fresh: bool = False) -> dict[str, Any] | None:
        """The org_for_send row; `fresh` skips the cached copy (the accept statement found it stale)."""
        return await self._read(self._orgs, org_id, lambda: sql.one(conn, "org_for_send", org_id=org_id), fresh=fresh)

    async def _read(self, store: dict[str, dict[str, Any]], name: str,
                    load: Callable[[], Awaitable[dict[str, Any] | None]], *, fresh: bool = False) -> dict[str, Any] | None:
        if not fresh and self.live and (found := store.get(name)) is not None:
            return found
        generation = self.generation
        found = await load()
        if found is not None:
            self._keep(store, name, found, generation)
        return found

    # ---- the listener ----

    def start(self, database_url: str) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen(database_url), name=LISTENER_NAME)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.live = False
        self.evict()

    async def _listen(self, database_url: str) -> None:
        while True:
            try:
                await self._serve(database_url)
            except (psycopg.Error, OSError) as exc:
                log.warning("tenancy cache listener lost (%s); serving without the cache until it is back",
                            type(exc).__name__)
            finally:
                self.live = False
                self.evict()
            await asyncio.sleep(RETRY_SECONDS)

    async def _serve(self, database_url: str) -> None:
        async with await AsyncConnection.connect(psycopg_url(database_url), autocommit=True,
                                                 application_name=LISTENER_NAME) as conn:
            await sql.execute(conn, "listen_tenancy")
            # Only now is every later change announced: what was cached before may be stale.
            self.evict()
            self.live = True
            while True:
                async for _ in conn.notifies(timeout=PING_SECONDS):
                    self.evict()
                await sql.one(conn, "tenancy_listener_ping")
