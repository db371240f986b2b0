"""`smsrelay api --workers 2`: two processes on one port, both answering, both stopping on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
import psutil

from smsrelay.store.migrate import upgrade
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def test_api_workers__two_processes_serve_one_port_and_stop_together(database_url):
    upgrade(database_url)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "api", "--port", str(port), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60, what="the API to answer")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len([c for c in children if "python" in c.name().lower()]) >= 2, children
        # Both processes answer the same authenticated contract: an unknown key is a 401, not a crash.
        for _ in range(10):
            r = httpx.post(f"http://127.0.0.1:{port}/v1/messages", json={"to": "+14155550100", "body": "hi"},
                           headers={"Authorization": "Bearer nope"}, timeout=5)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out  # a clean shutdown, not a crash or a kill
    # Children are reaped by their own parents, a moment after the supervisor's exit.
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not [c for c in alive if c.is_running() and c.status() != psutil.STATUS_ZOMBIE], (alive, out)
