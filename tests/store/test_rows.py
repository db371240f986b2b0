"""The TypedDicts of store/rows.py say what the send path's queries return; PostgreSQL is asked
(the statement is prepared and described, never run) for each typed query's columns, so a column
added, renamed or retyped in the SQL fails here until rows.py says so too."""

from __future__ import annotations

import re
import types
import typing
from datetime import datetime
from decimal import Decimal

import psycopg

from smsrelay.store import rows, sql

PG_TYPES = {str: {"text", "varchar"}, int: {"int2", "int4", "int8"}, bool: {"bool"},
            datetime: {"timestamptz"}, float: {"float8"}, Decimal: {"numeric"}}
# Where PostgreSQL cannot infer a parameter's type alone, the type the caller's value has.
PARAM_TYPES = {"rate_state": {"window": "float8", "in_flight": "float8"}}
SEND_PATH = {"org_for_send", "is_opted_out", "has_outbound_to", "batch_opted_out", "batch_messaged",
             "insert_idempotency", "insert_outbound_with_jobs", "authenticate_and_count", "lock_message",
             "get_org", "enqueue_job", "sid_taken", "rate_state", "apply_status_callback", "apply_status_callbacks",
             "update_message"}


def typed_queries() -> dict[str, type]:
    """Query name -> the TypedDict its overload of sql.one / sql.all returns."""
    typed: dict[str, type] = {}
    for fn in typing.get_overloads(sql.one) + typing.get_overloads(sql.all):
        hints = typing.get_type_hints(fn)
        if typing.get_origin(hints["name"]) is not typing.Literal:
            continue  # the untyped fallback
        row = _strip_none(hints["return"])
        if typing.get_origin(row) is list:
            (row,) = typing.get_args(row)
        assert typing.is_typeddict(row), f"{fn.__name__} overload returns {row}, not a TypedDict"
        for name in typing.get_args(hints["name"]):
            assert name not in typed, f"{name} is typed twice"
            typed[name] = row
    return typed


def _strip_none(hint):
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]
    return hint


def _fits(hint, pg_type: str, is_array: bool) -> bool:
    hint = _strip_none(hint)
    if hint is typing.Any or typing.is_typeddict(hint) or typing.get_origin(hint) is dict:
        return pg_type == "jsonb" and not is_array
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return _fits(item, pg_type, False) if is_array else pg_type == "jsonb"
    return not is_array and pg_type in PG_TYPES.get(hint, set())


def describe(conn: psycopg.Connection, name: str) -> list[tuple[str, str, bool]]:
    """(column, type name, is an array) for each column the named query returns."""
    params: list[str] = []

    def number(m: re.Match) -> str:
        if m.group(1) not in params:
            params.append(m.group(1))
        return f"${params.index(m.group(1)) + 1}"

    query = re.sub(r"%\((\w+)\)[sb]", number, sql.QUERIES[name])
    wanted = PARAM_TYPES.get(name, {})
    oids = [conn.adapters.types[wanted[p]].oid if p in wanted else 0 for p in params]
    stmt = f"typed_{name}".encode()
    prepared = conn.pgconn.prepare(stmt, query.encode(), oids)
    assert prepared.status == psycopg.pq.ExecStatus.COMMAND_OK, f"{name}: {prepared.error_message.decode()}"
    res = conn.pgconn.describe_prepared(stmt)
    columns = []
    for i in range(res.nfields):
        info = conn.adapters.types.get(res.ftype(i))
        assert info is not None, f"{name}: column {res.fname(i)!r} has an unknown type oid {res.ftype(i)}"
        columns.append((res.fname(i).decode(), info.name, res.ftype(i) == info.array_oid))
    return columns


def test_the_send_path_is_typed():
    assert SEND_PATH <= set(typed_queries()), f"untyped: {sorted(SEND_PATH - set(typed_queries()))}"


def test_typed_rows_match_the_columns_postgresql_returns(database_url):
    wrong = []
    with psycopg.connect(database_url) as conn:
        for name, row in sorted(typed_queries().items()):
            hints = typing.get_type_hints(row)
            columns = describe(conn, name)
            names = [c for c, _, _ in columns]
            if sorted(names) != sorted(hints) or len(set(names)) != len(names):
                wrong.append(f"{name} -> {row.__name__}: not declared {sorted(set(names) - set(hints))}, "
                             f"not returned {sorted(set(hints) - set(names))}, columns {names}")
                continue
            wrong += [f"{name} -> {row.__name__}.{column}: PostgreSQL {pg}{'[]' if array else ''}, declared "
                      f"{hints[column]}" for column, pg, array in columns if not _fits(hints[column], pg, array)]
    assert not wrong, "\n".join(wrong)


def test_the_check_catches_a_wrong_declaration(database_url):
    # Guards the check above: a declaration that disagrees with the SQL is seen.
    with psycopg.connect(database_url) as conn:
        columns = dict((c, (pg, array)) for c, pg, array in describe(conn, "lock_message"))
    hints = typing.get_type_hints(rows.Message)
    assert sorted(columns) == sorted(hints)
    assert not _fits(str, *columns["segments"]) and _fits(hints["segments"], *columns["segments"])
    assert not _fits(dict[str, typing.Any], *columns["createdAt"])
