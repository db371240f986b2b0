"""Every named query is defined once, in one concept's file, and every name the code asks for
exists: a typo or a leftover block fails here instead of at run time (or never)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from smsrelay.store import sql

ROOT = Path(__file__).resolve().parents[2]
SQL_CALLS = {"one", "all", "execute"}


def _is_sql_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "sql" and len(node.args) >= 2)


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def names_used(path: Path) -> tuple[set[str], list[str]]:
    """The query names a module passes to sql.one/all/execute or QUERIES[...], and the places it
    passes one we cannot read. A helper that forwards its own parameter to sql.* (mitigations'
    _update_org) counts the literals its callers in the module pass for that parameter."""
    tree = ast.parse(path.read_text(), str(path))
    used: set[str] = set()
    unreadable: list[str] = []
    forwarders: dict[str, int] = {}  # function name -> index of the parameter it forwards
    forwarded: set[int] = set()  # the sql.* calls inside them that pass that parameter
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        for node in ast.walk(fn):
            if _is_sql_call(node) and isinstance(node.args[1], ast.Name) and node.args[1].id in params:
                forwarders[fn.name] = params.index(node.args[1].id)
                forwarded.add(id(node))
    for node in ast.walk(tree):
        if _is_sql_call(node):
            name = _literal(node.args[1])
            if name is not None:
                used.add(name)
            elif id(node) not in forwarded:
                unreadable.append(f"{path}:{node.lineno}")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "QUERIES":
            name = _literal(node.slice)
            if name is not None:
                used.add(name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in forwarders:
            index = forwarders[node.func.id]
            name = _literal(node.args[index]) if len(node.args) > index else None
            if name is None:
                unreadable.append(f"{path}:{node.lineno}")
            else:
                used.add(name)
    return used, unreadable


def used_under(folder: str) -> set[str]:
    used: set[str] = set()
    unreadable: list[str] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        names, bad = names_used(path)
        used |= names
        unreadable += bad
    assert not unreadable, f"query names passed as expressions this test cannot follow: {unreadable}"
    return used


def test_every_query_is_used_in_src():
    unused = set(sql.QUERIES) - used_under("src")
    assert not unused, f"queries nothing in src/ runs (delete them): {sorted(unused)}"


@pytest.mark.parametrize("folder", ["src", "tests", "bench"])
def test_every_name_asked_for_is_defined(folder):
    undefined = used_under(folder) - set(sql.QUERIES)
    assert not undefined, f"names {folder}/ asks for that no store/queries/*.sql defines: {sorted(undefined)}"


def test_the_scan_sees_the_send_path():
    # Guards the scan itself: if it stopped recognising calls, the tests above would pass empty.
    assert {"insert_outbound_with_jobs", "lock_message", "update_message", "mitigate_org_rate"} <= used_under("src")


def test_each_concept_file_holds_queries():
    files = sorted(sql.QUERIES_DIR.glob("*.sql"))
    assert files and all(sql._BLOCK.search(f.read_text()) for f in files)
    assert not (sql.QUERIES_DIR.parent / "queries.sql").exists(), "move its blocks into store/queries/<concept>.sql"


def test_a_name_defined_in_two_files_is_refused(tmp_path):
    (tmp_path / "messages.sql").write_text("-- get_message --\nSELECT 1;\n")
    (tmp_path / "delivery.sql").write_text("-- insert_event --\nSELECT 2;\n\n-- get_message --\nSELECT 3;\n")
    with pytest.raises(sql.DuplicateQuery, match=r"'get_message'.*delivery\.sql.*messages\.sql"):
        sql._load(tmp_path)


def test_a_name_defined_twice_in_one_file_is_refused(tmp_path):
    (tmp_path / "tenancy.sql").write_text("-- get_org --\nSELECT 1;\n\n-- get_org --\nSELECT 2;\n")
    with pytest.raises(sql.DuplicateQuery, match="'get_org'"):
        sql._load(tmp_path)


def test_blocks_load_as_before(tmp_path):
    (tmp_path / "a.sql").write_text("-- file header: why these live here\n\n-- ==== section ====\n\n"
                                    "-- one --\n-- a comment about one\nSELECT 1\nFROM x;\n\n-- ==== next ====\n\n"
                                    "-- two --\nSELECT 2;\n")
    assert sql._load(tmp_path) == {"one": "SELECT 1\nFROM x;", "two": "SELECT 2;"}


def test_the_scan_refuses_a_name_it_cannot_read(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("async def f(conn, which):\n    q = 'get_' + which\n    return await sql.one(conn, q)\n\n"
                      "async def g(conn, query):\n    return await sql.all(conn, query)\n\n"
                      "async def h(conn, kind):\n    await g(conn, 'list_orgs')\n    await g(conn, kind)\n")
    used, unreadable = names_used(module)
    assert used == {"list_orgs"}
    assert unreadable == [f"{module}:3", f"{module}:10"]
