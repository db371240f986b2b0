"""The autopilot through the real `smsrelay up` (embedded PostgreSQL, simulator, API, worker,
scheduler as separate processes): a sender number breaks in the simulator, the scheduler's
autopilot holds that number alone within 2 minutes of onset and announces it on the alert
webhook, the other org keeps sending; once the scenario clears every message is delivered
exactly once (counted in the simulator's ledger) and the incident report is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime

import httpx
import psutil
import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.autopilot import Announcements, delivered_once
from tests.support.ports import free_port
from tests.support.postgres import stop_postmaster
from tests.support.waiting import wait_until

TOKEN = "admin-t0ken"
OTHER = "+15017122699"


@pytest.fixture
def home(tmp_path):
    yield tmp_path / "home"
    stop_postmaster(tmp_path / "home" / "pgdata")


@pytest.fixture
def announcements():
    a = Announcements()
    yield a
    a.stop()


def test_autopilot_through_smsrelay_up__holds_the_broken_sender_then_delivers_everything_once(
        tmp_path, home, announcements):
    api_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TWILIO_", "SIM_", "PUBLIC_BASE",
                                                                     "AUTOPILOT_", "ALERT_"))}
    env.update(SMSRELAY_HOME=str(home), SIMULATOR_PORT=str(sim_port), ADMIN_API_TOKEN=TOKEN,
               ALERT_WEBHOOK_URL=announcements.url, AUTOPILOT_TICK_SECONDS="0.5", AUTOPILOT_CONFIRM_SECONDS="0",
               AUTOPILOT_VERIFY_SECONDS="1", AUTOPILOT_PROBE_SECONDS="2", AUTOPILOT_CLOSE_SECONDS="0")

    def smsrelay(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "smsrelay", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "up", "--port", str(api_port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    children: list[psutil.Process] = []
    try:
        print("T start", datetime.now(), flush=True); wait_until(lambda: "Ctrl-C stops everything" in proc.stdout.readline() or proc.poll() is not None,
                   timeout=120, interval=0, what="smsrelay up to be ready")
        print("T up", datetime.now(), flush=True); assert proc.poll() is None
        base = f"http://127.0.0.1:{api_port}"
        admin = {"Authorization": f"Bearer {TOKEN}", "X-Operator": "test"}
        demo = json.loads((home / "demo-org.json").read_text())
        made = smsrelay("org", "create", "Other", "--number", OTHER, "--json")
        assert made.returncode == 0, made.stderr
        other = json.loads(made.stdout)
        enabled = smsrelay("autopilot", "enable", "sender_number")
        assert enabled.returncode == 0, enabled.stderr
        children = psutil.Process(proc.pid).children(recursive=True)

        def send(key: str, to: str) -> str:
            r = httpx.post(f"{base}/v1/messages", headers={"Authorization": f"Bearer {key}"},
                           json={"to": to, "body": "Your table is ready"})
            assert r.status_code == 202, r.text
            return r.json()["id"]

        def status(key: str, mid: str) -> str:
            return httpx.get(f"{base}/v1/messages/{mid}", headers={"Authorization": f"Bearer {key}"}).json()["status"]

        def actions() -> list[dict]:
            return httpx.get(f"{base}/admin/v1/autopilot", headers=admin).json()["actions"]

        with SimulatorClient(f"http://127.0.0.1:{sim_port}") as sim:
            sim.set_scenario("sender_number_issue", number=demo["number"])
            onset = datetime.now().astimezone()
            failing = [send(demo["apiKey"], f"+141555540{k:02d}") for k in range(10)]
            flowing = [send(other["apiKey"], f"+141555541{k:02d}") for k in range(2)]
            print("T onset", datetime.now()); [action] = wait_until(lambda: (a := actions()) and a, timeout=120, what="the autopilot to act")
            assert (action["cause"], action["scope"], action["value"], action["kind"]) == (
                "sender_number", "sender", demo["number"], "hold")
            assert (datetime.fromisoformat(action["createdAt"]) - onset).total_seconds() < 120
            held = [send(demo["apiKey"], f"+141555542{k:02d}") for k in range(3)]
            flowing += [send(other["apiKey"], f"+141555543{k:02d}") for k in range(2)]
            for mid in flowing:
                wait_until(lambda: status(other["apiKey"], mid) == "delivered", timeout=30, what="others flowing")
            assert all(status(demo["apiKey"], m) == "queued" for m in held)
            assert any(t.startswith("Autopilot: hold sender number") for t in announcements.titles())

            print("T acted", datetime.now(), flush=True); sim.clear_scenarios()
            closed = wait_until(lambda: (a := actions()) and a[0]["state"] == "closed" and a[0], timeout=120,
                                what=lambda: f"the incident to close: {actions()}")
            print("T closed", datetime.now(), flush=True); recipients = ([f"+141555540{k:02d}" for k in range(10)] + [f"+141555542{k:02d}" for k in range(3)]
                          + [f"+14155554{n}{k:02d}" for n in (1, 3) for k in range(2)])
            counts = wait_until(lambda: set((c := delivered_once(sim.ledger(), recipients)).values()) == {1} and c,
                                timeout=60, what=lambda: f"{delivered_once(sim.ledger(), recipients)}")
            assert set(counts.values()) == {1}
        print("T ledger", datetime.now(), flush=True); report = smsrelay("autopilot", "report", closed["id"])
        assert report.returncode == 0 and report.stdout.startswith("# SMS incident report"), report.stdout
        assert any("incident closed" in t for t in announcements.titles())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
