"""Connections: one psycopg async pool per process, and URL helpers for SQLAlchemy/Alembic."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool


def psycopg_url(url: str) -> str:
    """psycopg wants plain postgresql://; SQLAlchemy URLs may carry a +driver suffix."""
    for prefix in ("postgresql+psycopg://", "postgres://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + psycopg_url(url)[len("postgresql://"):]


async def _configure(conn: AsyncConnection) -> None:
    # Statements that wait on a lock for long are worse than a quick error and a retry:
    # a slow database must not pile up requests until we run out of connections.
    await conn.execute("SET statement_timeout = '30s'")


RECONNECT_SECONDS = 4.0


def make_pool(url: str, *, min_size: int = 1, max_size: int = 10, name: str = "smsrelay") -> AsyncConnectionPool:
    # autocommit: a lone statement commits at once and never holds locks for the rest of a
    # request; anything that must be atomic says so with `async with conn.transaction()`.
    return AsyncConnectionPool(
        psycopg_url(url),
        min_size=min_size,
        max_size=max_size,
        open=False,
        name=name,
        kwargs={"row_factory": dict_row, "application_name": name, "autocommit": True},
        configure=_configure,
        timeout=5.0,
        # The pool retries a lost connection with doubling delays (1, 2, 4, 8 … s): after a
        # 20 s database restart it came back 14 s late. Giving up early instead hands the
        # reconnecting to demand: the next request that finds the pool empty starts afresh.
        reconnect_timeout=RECONNECT_SECONDS,
    )
