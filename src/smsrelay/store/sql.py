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
from typing import Any, Literal, overload

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from smsrelay.store import rows

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


# The send path's queries, typed: a type checker sees which row each name returns. Only
# declarations (nothing runs per call); tests/store/test_rows.py checks them against the SQL.
ONE_ROWS = Literal["get_message", "get_message_any_org", "lock_message", "update_message"]
NEW_IDS = Literal["enqueue_job", "rate_record_send"]


@overload
async def one(conn: AsyncConnection, name: ONE_ROWS, /, **params: Any) -> rows.Message | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["apply_status_callback"], /,
              **params: Any) -> rows.StatusApplied | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["get_org"], /, **params: Any) -> rows.Org | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["org_for_send"], /, **params: Any) -> rows.OrgForSend | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["authenticate_and_count"], /,
              **params: Any) -> rows.ApiKeyHit | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["get_idempotency"], /, **params: Any) -> rows.Idempotency | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["insert_idempotency"], /,
              **params: Any) -> rows.IdempotencyStored | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["insert_outbound_with_jobs"], /,
              **params: Any) -> rows.JobsDeferred | None: ...
@overload
async def one(conn: AsyncConnection, name: NEW_IDS, /, **params: Any) -> rows.NewId | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["is_opted_out"], /, **params: Any) -> rows.OptedOut | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["has_outbound_to"], /, **params: Any) -> rows.Messaged | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["sid_taken"], /, **params: Any) -> rows.SidTaken | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["outbound_segments_since"], /, **params: Any) -> rows.OutboundCount | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["get_system_setting"], /,
              **params: Any) -> rows.SystemSetting | None: ...
@overload
async def one(conn: AsyncConnection, name: Literal["rate_state"], /, **params: Any) -> rows.RateState | None: ...
@overload
async def one(conn: AsyncConnection, name: str, /, **params: Any) -> dict[str, Any] | None: ...


# The implementations return Any: the pool's connections make dict rows (db.py), which psycopg's
# static types cannot see; callers get the overloads' types.
async def one(conn: AsyncConnection, name: str, /, **params: Any) -> Any:
    cur = await conn.execute(QUERIES[name], _params(params))
    return await cur.fetchone()


@overload
async def all(conn: AsyncConnection, name: Literal["list_messages"], /,  # noqa: A001
              **params: Any) -> list[rows.Message]: ...
@overload
async def all(conn: AsyncConnection, name: Literal["message_events"], /,  # noqa: A001
              **params: Any) -> list[rows.MessageEvent]: ...
@overload
async def all(conn: AsyncConnection, name: Literal["apply_status_callbacks"], /,  # noqa: A001
              **params: Any) -> list[rows.StatusApplied]: ...
@overload
async def all(conn: AsyncConnection, name: Literal["batch_opted_out"], /,  # noqa: A001
              **params: Any) -> list[rows.BatchOptedOut]: ...
@overload
async def all(conn: AsyncConnection, name: Literal["batch_messaged"], /,  # noqa: A001
              **params: Any) -> list[rows.BatchMessaged]: ...
@overload
async def all(conn: AsyncConnection, name: str, /, **params: Any) -> list[dict[str, Any]]: ...  # noqa: A001


async def all(conn: AsyncConnection, name: str, /, **params: Any) -> Any:  # noqa: A001
    cur = await conn.execute(QUERIES[name], _params(params))
    return await cur.fetchall()


async def execute(conn: AsyncConnection, name: str, /, **params: Any) -> int:
    cur = await conn.execute(QUERIES[name], _params(params))
    return cur.rowcount
