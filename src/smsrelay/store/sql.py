"""Named SQL: every statement the service runs lives in queries.sql, one block per name.

Keeping SQL in one file (as procrastinate does) makes it reviewable next to the runbook and
the indexes in schema.py, and keeps handlers and use cases free of SQL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

_BLOCK = re.compile(r"^-- (\w+) --\n(.*?)(?=^-- \w+ --\n|\Z)", re.S | re.M)


def _load() -> dict[str, str]:
    text = (Path(__file__).parent / "queries.sql").read_text()
    queries: dict[str, str] = {}
    for name, body in _BLOCK.findall(text):
        lines = [line for line in body.strip().splitlines() if not line.startswith("-- ")]
        queries[name] = "\n".join(lines).strip()
    return queries


QUERIES = _load()


def _params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: Jsonb(v) if isinstance(v, dict) else v for k, v in params.items()}


async def one(conn: AsyncConnection, name: str, /, **params: Any) -> dict[str, Any] | None:
    cur = await conn.execute(QUERIES[name], _params(params))
    return await cur.fetchone()


async def all(conn: AsyncConnection, name: str, /, **params: Any) -> list[dict[str, Any]]:  # noqa: A001
    cur = await conn.execute(QUERIES[name], _params(params))
    return await cur.fetchall()


async def execute(conn: AsyncConnection, name: str, /, **params: Any) -> int:
    cur = await conn.execute(QUERIES[name], _params(params))
    return cur.rowcount
