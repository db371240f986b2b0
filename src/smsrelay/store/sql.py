"""Named SQL: every statement the service runs lives in store/queries/, one block per name.

Keeping SQL in a few files (as procrastinate does) makes it reviewable next to the runbook and
the indexes in schema.py, and keeps handlers and use cases free of SQL. One file per concept
(queries/<concept>.sql, the service package that calls them) gives each statement one obvious
home; a name is global, so a second definition anywhere is refused at import rather than one
silently winning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

_BLOCK = re.compile(r"^-- (\w+) --\n(.*?)(?=^-- \w+ --\n|\Z)", re.S | re.M)


QUERIES_DIR = Path(__file__).parent / "queries"


class DuplicateQuery(Exception):
    pass


def _load(directory: Path = QUERIES_DIR) -> dict[str, str]:
    queries: dict[str, str] = {}
    defined_in: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, body in _BLOCK.findall(path.read_text()):
            if name in defined_in:
                raise DuplicateQuery(f"query {name!r} is defined twice: in {defined_in[name]} and in {path.name}")
            defined_in[name] = path.name
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
