"""Shared fixtures. PostgreSQL is real: TEST_DATABASE_URL (e.g. the machine's server at
127.0.0.1:5432) when set, otherwise an embedded server in a temporary directory."""

from __future__ import annotations


import pytest

from tests.harness import DatabaseFactory, admin_database_url, build_stack


@pytest.fixture(scope="session")
def db_factory():
    url, _server_dir = admin_database_url()
    factory = DatabaseFactory(url)
    factory.prepare()
    yield factory
    factory.drop_all()


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
