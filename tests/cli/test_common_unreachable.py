"""A command that cannot reach the simulator or the database prints one line on stderr and exits
non-zero, never a traceback (issue 15). Run as an operator runs it: the installed `smsrelay`
entry point in a subprocess, pointed at a loopback port nothing listens on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))  # what `uv run smsrelay` runs

CLOSED = free_port()  # bound and released: nothing listens there
DATABASE_COMMANDS = [["db", "upgrade"], ["sms", "status"], ["org", "key", "list", "org_x"],
                     ["send", "hi", "--org", "org_x", "--to", "+14155552671"]]
SIMULATOR_COMMANDS = [["sim", "scenario", "--list"], ["sim", "ledger"],
                      ["sim", "inbound", "hi", "--from", "+14155552671", "--to", "+15017122661"]]


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SIM_", "SIMULATOR_", "TWILIO_", "DATABASE_URL", "SMSRELAY_"))}
    clean.update({"SMSRELAY_HOME": str(tmp_path / "home"), "COLUMNS": "80", **env})
    return subprocess.run([SMSRELAY, *args], env=clean, capture_output=True, text=True, timeout=90)


def _assert_one_line(r: subprocess.CompletedProcess, expected: str) -> None:
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"smsrelay: {expected}"), r.stderr
    assert r.stdout == "", r.stdout


@pytest.mark.parametrize("args", SIMULATOR_COMMANDS, ids=" ".join)
def test_unreachable_simulator__one_line(args, tmp_path):
    r = _run(args, tmp_path, SIMULATOR_PORT=str(CLOSED))
    _assert_one_line(r, f"cannot reach http://127.0.0.1:{CLOSED}")


@pytest.mark.parametrize("args", DATABASE_COMMANDS, ids=" ".join)
def test_unreachable_database__one_line(args, tmp_path):
    r = _run(args, tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{CLOSED}/nowhere")
    _assert_one_line(r, "cannot reach the database")
    assert f"port {CLOSED}" in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["sms", "status"], ["incident", "status"], ["org", "key", "list", "org_x"]],
                         ids=" ".join)
def test_database_without_schema__one_line_naming_the_upgrade(args, tmp_path, db_factory):
    import psycopg

    from smsrelay.cli.database_said import describe_url
    from smsrelay.store.db import psycopg_url
    from tests.support.postgres import with_database

    name = f"{db_factory.prefix}_empty_{args[0]}"
    with psycopg.connect(psycopg_url(db_factory.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        r = _run(args, tmp_path, DATABASE_URL=with_database(db_factory.admin_url, name))
    finally:
        with psycopg.connect(psycopg_url(db_factory.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _assert_one_line(r, "the database schema is older than this smsrelay (relation")
    # The line ends by naming the database it read (issue 19): the wrong one is the likelier cause.
    where = describe_url(with_database(db_factory.admin_url, name))
    assert r.returncode == 1 and r.stderr.rstrip().endswith(
        f"run `smsrelay db upgrade` [database: {where} (DATABASE_URL)]"), r.stderr
    assert "LINE" not in r.stderr, r.stderr
