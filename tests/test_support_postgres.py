"""The session's check for a test PostgreSQL left running (tests/conftest.py's
pytest_sessionfinish) sees an embedded server while it runs, and stopping one leaves nothing."""

from __future__ import annotations

from tests.support.postgres import EmbeddedPostgres, leftover_postmasters, postmasters_in


def test_embedded_postgres__seen_by_the_session_check_while_running_and_gone_once_stopped():
    server = EmbeddedPostgres(prefix="smsrelay-test-leak-").start()
    try:
        running = postmasters_in([server.pgdata])
        assert len(running) == 1, "one postmaster serves the data directory"
        assert [p.pid for p in leftover_postmasters() if p.pid == running[0].pid] == [running[0].pid]
    finally:
        server.stop()
    assert postmasters_in([server.pgdata]) == []
    assert not running[0].is_running()
    assert not server.home.exists(), "the temporary directory is removed"
