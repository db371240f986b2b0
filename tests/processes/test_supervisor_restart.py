"""`smsrelay up` supervises its children: a worker killed with -9 is restarted while the API
keeps answering, a child that keeps dying makes `up` give up loudly, and Ctrl-C still stops
everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psutil

from smsrelay.processes.supervisor import Supervisor
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def _workers(up: psutil.Process) -> list[psutil.Process]:
    found = []
    for p in up.children(recursive=True):
        try:
            if p.cmdline()[-1:] == ["worker"]:
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def test_up__worker_killed_with_9_is_restarted_api_keeps_answering_then_ctrl_c_stops_all(tmp_path, database_url):
    api_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TWILIO_", "SIM_", "PUBLIC_BASE"))}
    env.update(SMSRELAY_HOME=str(tmp_path / "home"), SIMULATOR_PORT=str(sim_port), DATABASE_URL=database_url)
    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "up", "--port", str(api_port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    # Drained all along: the children write to this pipe too, and a full pipe would stall them.
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    children: list[psutil.Process] = []
    try:
        wait_until(lambda: any("Ctrl-C stops everything" in line for line in output) or proc.poll() is not None,
                   timeout=120, interval=0.1, what="smsrelay up to be ready")
        assert proc.poll() is None, "".join(output)
        demo = json.loads((tmp_path / "home" / "demo-org.json").read_text())
        base = f"http://127.0.0.1:{api_port}"
        headers = {"Authorization": f"Bearer {demo['apiKey']}"}

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=60, interval=0.2, what="the API")
        up = psutil.Process(proc.pid)
        [old] = wait_until(lambda: _workers(up), timeout=30, what="the worker")
        old.send_signal(signal.SIGKILL)
        old.wait(timeout=10)

        # Several health checks across the supervisor's backoff: the API never goes away.
        for _ in range(10):
            assert proc.poll() is None, "".join(output)
            assert healthy(), "the API stopped answering after the worker died:\n" + "".join(output)
            time.sleep(0.3)
        [new] = wait_until(lambda: [w for w in _workers(up) if w.pid != old.pid], timeout=30,
                           what=lambda: "a new worker:\n" + "".join(output))
        assert new.pid != old.pid
        assert any("worker-1 exited with -9; restarting" in line for line in output), "".join(output)

        sent = httpx.post(f"{base}/v1/messages", headers=headers, json={"to": "+14155552671", "body": "After the kill"})
        assert sent.status_code == 202, sent.text
        wait_until(lambda: httpx.get(f"{base}/v1/messages/{sent.json()['id']}", headers=headers).json()["status"]
                   == "delivered", timeout=60, what="delivered by the new worker")
        assert proc.poll() is None
        children = up.children(recursive=True)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, "".join(output)
    _, alive = psutil.wait_procs(children, timeout=15)
    left = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {left}"


def test_supervisor__child_that_keeps_dying_is_restarted_then_given_up_on():
    """A real process that exits at once: restarted max_restarts times, then the supervisor
    gives up (exit code 1), leaving the child that stayed up stopped by stop()."""
    sup = Supervisor(dict(os.environ), max_restarts=3, window=60, backoff_min=0.05, backoff_max=0.2,
                     command=[sys.executable, "-c"])
    sup.start("crasher", ["import sys; sys.exit(3)"])
    sup.start("steady", ["import time; time.sleep(60)"])
    steady = sup.children[1].proc
    try:
        code = sup.wait()
        assert code == 1
        crasher = sup.children[0]
        assert crasher.restarts == 3
        assert steady.poll() is None, "the healthy child was not restarted or stopped while the other failed"
    finally:
        sup.stop(grace=5)
    assert steady.poll() is not None


def test_supervisor__failures_outside_the_window_do_not_add_up():
    now = {"t": 0.0}
    sup = Supervisor(dict(os.environ), max_restarts=2, window=10, backoff_min=0, backoff_max=0,
                     command=[sys.executable, "-c"], clock=lambda: now["t"])
    sup.start("crasher", ["import sys; sys.exit(1)"])
    try:
        for step in range(6):  # one exit every 20 s: never more than one in the window
            sup.children[0].proc.wait()
            assert sup.check() is None
            now["t"] += 20
            assert sup.check() is None  # the restart happens
        assert sup.children[0].restarts == 6
    finally:
        sup.stop(grace=5)
