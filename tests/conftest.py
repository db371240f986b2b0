"""Shared fixtures. PostgreSQL is real: TEST_DATABASE_URL (e.g. the machine's server at
127.0.0.1:5432) when set, otherwise an embedded server in a temporary directory."""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import pytest

from tests.support.postgres import DatabaseFactory, admin_database_url, leftover_postmasters, stop_server_process
from tests.support.stack import build_stack


@pytest.fixture(scope="session")
def db_factory():
    url, embedded_server = admin_database_url()
    factory = DatabaseFactory(url)
    factory.prepare()
    yield factory
    factory.drop_all()
    if embedded_server is not None:
        embedded_server.stop()


@pytest.fixture
def database_url(db_factory):
    url = db_factory.clone()
    yield url
    db_factory.drop(url)


@pytest.fixture
def stack(database_url):
    s = build_stack(database_url)
    yield s
    s.stop()


@pytest.fixture
def make_stack(database_url):
    """For tests that need a non-default simulator or settings."""
    made = []

    def make(**kwargs):
        s = build_stack(database_url, **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def pytest_unconfigure(config):
    """A thread a test forgot to stop would keep the interpreter alive after pytest has
    reported, and CI would wait out its whole time limit. Name it and exit instead."""
    leftover = [t for t in threading.enumerate()
                if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    # A thread winding down (an executor's worker after its loop closed) gets a grace period.
    deadline = time.monotonic() + 20
    for t in leftover:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    leftover = [t for t in leftover if t.is_alive()]
    if not leftover:
        return
    frames = sys._current_frames()
    for t in leftover:
        where = "".join(traceback.format_stack(frames[t.ident])) if t.ident in frames else "?"
        sys.stderr.write(f"\nthread {t.name!r} is still running after the tests:\n{where}")
    sys.stderr.write(f"\n{len(leftover)} test thread(s) left running: a test does not stop what it starts\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(int(getattr(config, "_smsrelay_exitstatus", 0)) or 3)


def pytest_sessionfinish(session, exitstatus):
    """A test PostgreSQL still running after the suite holds memory, a port or socket and a
    temporary directory on the machine: stop it, name it, and fail the run. (pytest's basetemp,
    where e.g. `smsrelay up` in a test keeps its server, exists only if a test asked for it.)"""
    left = leftover_postmasters(getattr(getattr(session.config, "_tmp_path_factory", None), "_basetemp", None))
    for proc in left:
        stop_server_process(proc)
    if left:
        sys.stderr.write("\n" + "".join(f"PostgreSQL pid {p.pid} was still running after the tests\n" for p in left)
                         + "a test or fixture does not stop the server it starts\n")
        if exitstatus == 0:
            exitstatus = session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config._smsrelay_exitstatus = exitstatus


# The whole-system tests take minutes each, much of it waiting on a clock (a schedule, a
# throttle's minute): started first, they overlap the thousand short tests instead of running
# on after them at the end of the suite.
LONG_FIRST = ("tests/system/", "tests/service/outbound/test_throttle_rate_limit.py",
              "tests/simulator/test_throughput.py", "tests/processes/")


def pytest_collection_modifyitems(session, config, items):
    def long_first(item) -> int:
        return next((i for i, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))
    items.sort(key=long_first)
