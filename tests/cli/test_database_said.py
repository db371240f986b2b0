"""The right database, said out loud, and orgs named by name (issue 19). Run as an operator runs
them: the installed `smsrelay` in a subprocess. From a directory without SMSRELAY_HOME a command
used to create an empty embedded database and answer "No incident"; `org disable Acme` said
only "No org Acme"."""

from __future__ import annotations

import json
from urllib.parse import urlsplit
import os
import subprocess
import sys
from pathlib import Path

from smsrelay.cli import database_said

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "SMSRELAY_", "TWILIO_"))}
    clean.update({"COLUMNS": "200", **env})
    return subprocess.run([SMSRELAY, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=90)


def test_no_embedded_database_here__refused_not_created(tmp_path):
    for args in (["incident", "status"], ["incident", "diagnose", "--json"], ["org", "list"], ["sms", "status"]):
        r = _run(tmp_path, *args)
        assert r.returncode == 2 and r.stdout == "", (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"smsrelay: no database at {tmp_path / '.smsrelay' / 'pgdata'}")
        assert "SMSRELAY_HOME" in lines[0] and "DATABASE_URL" in lines[0]
    assert not (tmp_path / ".smsrelay").exists()


def test_every_command_names_its_database__json_untouched(tmp_path, database_url):
    where = database_said.describe_url(database_url)  # host:port/db, or the socket directory/db
    dbname = urlsplit(database_url).path.lstrip("/")  # the URL's query may hold a socket path
    assert where.endswith("/" + dbname) and "@" not in where
    r = _run(tmp_path, "org", "list", "--json", DATABASE_URL=database_url)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
    assert r.stderr.strip() == (f"database: {where} (DATABASE_URL); it holds no org: if that is "
                                "unexpected, set SMSRELAY_HOME or DATABASE_URL")
    failed = _run(tmp_path, "org", "disable", "org_missing", DATABASE_URL=database_url)
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.strip().endswith(f"[database: {where} (DATABASE_URL)]"), failed.stderr


def test_org_list_and_lookup_by_name(tmp_path, database_url):
    db = {"DATABASE_URL": database_url}
    ids = [json.loads(_run(tmp_path, "org", "create", n, "--json", **db).stdout)["id"] for n in ("Acme", "acme ", "Beta")]
    listed = json.loads(_run(tmp_path, "org", "list", "--json", **db).stdout)
    assert [(o["id"], o["name"], o["activeKeys"]) for o in listed] == [(ids[0], "Acme", 1), (ids[1], "acme", 1),
                                                                        (ids[2], "Beta", 1)]
    table = _run(tmp_path, "org", "list", **db)
    assert table.returncode == 0 and all(i in table.stdout for i in ids) and "Beta" in table.stdout
    assert "holds no org" not in table.stderr

    by_name = _run(tmp_path, "org", "disable", " beta", "--reason", "carrier filtering", "--json", **db)
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout) == {"orgId": ids[2], "smsDisabled": True, "maxMessagesPerMinute": None}

    ambiguous = _run(tmp_path, "org", "throttle", "ACME", "--per-minute", "5", **db)
    assert ambiguous.returncode == 2 and len(ambiguous.stderr.strip().splitlines()) == 1, ambiguous.stderr
    assert "2 orgs are named 'ACME'" in ambiguous.stderr and ids[0] in ambiguous.stderr and ids[1] in ambiguous.stderr
    missing = _run(tmp_path, "org", "disable", "Acme Inc", **db)
    assert missing.returncode == 2 and "No org has the id or the name 'Acme Inc'" in missing.stderr
    assert "org list" in missing.stderr

    status = _run(tmp_path, "incident", "status", "--org", "Beta", "--json", **db)
    assert status.returncode == 0 and json.loads(status.stdout)["org"] == ids[2], status.stderr
    keys = _run(tmp_path, "org", "key", "list", "Beta", **db)
    assert keys.returncode == 0 and "default" in keys.stdout, keys.stderr


def test_db_upgrade_names_the_database_it_migrated(tmp_path, database_url):
    r = _run(tmp_path, "db", "upgrade", DATABASE_URL=database_url)
    assert r.returncode == 0 and r.stdout.strip() == "database is up to date", r.stderr
    assert r.stderr.strip() == f"database: {database_said.describe_url(database_url)} (DATABASE_URL)"
