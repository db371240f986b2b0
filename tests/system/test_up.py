"""The README's first command: `smsrelay up` on a fresh directory runs everything, the README's
curl gets a message delivered through the simulator, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from tests.support.ports import free_port
from tests.support.postgres import stop_postmaster
from tests.support.waiting import wait_until


@pytest.fixture
def home(tmp_path):
    """`up`'s $SMSRELAY_HOME. The test asserts that `up` stops its embedded PostgreSQL; if it
    did not (or the test failed first), the server is stopped here, after the assertions."""
    yield tmp_path / "home"
    stop_postmaster(tmp_path / "home" / "pgdata")


def test_up__fresh_directory_send_delivered_then_ctrl_c_stops_everything(tmp_path, home):
    api_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TWILIO_", "SIM_", "PUBLIC_BASE"))}
    env.update(SMSRELAY_HOME=str(home), SIMULATOR_PORT=str(sim_port))
    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "up", "--port", str(api_port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    try:
        def printed_key() -> bool:
            line = proc.stdout.readline()
            output.append(line)
            return "Ctrl-C stops everything" in line or proc.poll() is not None

        wait_until(printed_key, timeout=120, interval=0, what="smsrelay up to be ready")
        assert proc.poll() is None, "".join(output)
        text = "".join(output)
        demo = json.loads((tmp_path / "home" / "demo-org.json").read_text())
        assert demo["apiKey"] in text and f"http://127.0.0.1:{api_port}" in text
        assert "Dashboard" in text and "password:" in text
        base = f"http://127.0.0.1:{api_port}"
        headers = {"Authorization": f"Bearer {demo['apiKey']}"}
        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, interval=0.2, what="the API")
        sent = httpx.post(f"{base}/v1/messages", headers=headers, json={"to": "+14155552671", "body": "Your table is ready"})
        assert sent.status_code == 202, sent.text
        message = wait_until(
            lambda: (m := httpx.get(f"{base}/v1/messages/{sent.json()['id']}", headers=headers).json())["status"] == "delivered" and m,
            timeout=60, what="delivered")
        assert [h["status"] for h in message["history"]] == ["sent", "delivered"]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 4, "simulator, API, worker and scheduler"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    # Grandchildren are reaped by their own parents a moment after `up` returns.
    _, alive = psutil.wait_procs(children, timeout=15)
    left = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {left}"
    pgdata = tmp_path / "home" / "pgdata"
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL was stopped"
