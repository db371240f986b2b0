"""A worker stopped before its database answered closes its pool: the pool's tasks would
otherwise outlive the worker's loop (seen on CI as a loop thread that would not stop)."""

from __future__ import annotations

import socket
import time

from smsrelay.processes.worker import run_worker
from smsrelay.service.runtime import Runtime
from smsrelay.settings import Settings
from tests.support.servers import LoopThread


def test_worker_stopped_while_connecting__closes_its_pool():
    # A listener that accepts and never answers: the PostgreSQL handshake hangs there.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/nowhere"
    rt = Runtime.create(Settings(_env_file=None, database_url=url), url, pool_size=2, name="test-silent")
    try:
        worker = LoopThread(lambda: run_worker(rt, install_signal_handlers=False)).start()
        time.sleep(0.5)  # inside rt.open(), waiting for the first connection
        worker.stop()
        assert rt.pool.closed
    finally:
        silent.close()
