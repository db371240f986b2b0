"""Issue 21's first acceptance through `smsrelay up` with the simulator's prices: mixed traffic
(destinations, lengths) gives the org a usage equal to the sum of the simulator's ledger prices,
and the API, the CLI and the dashboard say the same. (Pumping and the caps are proven against
the same service in tests/service/spend/.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from decimal import Decimal

import httpx
import psutil
import pytest

from tests.support.ports import free_port
from tests.support.postgres import stop_postmaster
from tests.support.waiting import wait_until
from tests.web.dashboard.helpers import log_in

TRAFFIC = [("+14155552671", "Your table is ready"), ("+14155552672", "a" * 200), ("+447400123456", "Hello from us"),
           ("+447400123457", "✓ confirmed " * 8), ("+33612345678", "Bonjour"), ("+998901234567", "Kod: 1234")]


@pytest.fixture
def home(tmp_path):
    yield tmp_path / "home"
    stop_postmaster(tmp_path / "home" / "pgdata")


def test_up__usage_equals_the_simulators_ledger_in_api_cli_and_dashboard(tmp_path, home):
    api_port, sim_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "TWILIO_", "SIM_", "PUBLIC_BASE"))}
    env.update(SMSRELAY_HOME=str(home), SIMULATOR_PORT=str(sim_port), DASHBOARD_ADMIN_PASSWORD="correct horse battery staple",
               DASHBOARD_ADMIN_USER="ops")
    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "up", "--port", str(api_port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    children: list[psutil.Process] = []
    try:
        def printed_ready() -> bool:
            line = proc.stdout.readline()
            output.append(line)
            return "Ctrl-C stops everything" in line or proc.poll() is not None

        wait_until(printed_ready, timeout=120, interval=0, what="smsrelay up to be ready")
        assert proc.poll() is None, "".join(output)
        demo = json.loads((home / "demo-org.json").read_text())
        base, sim = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sim_port}"
        headers = {"Authorization": f"Bearer {demo['apiKey']}"}
        wait_until(lambda: _healthy(base), timeout=60, interval=0.2, what="the API")
        ids = []
        for to, body in TRAFFIC:
            sent = httpx.post(f"{base}/v1/messages", headers=headers, json={"to": to, "body": body})
            assert sent.status_code == 202, sent.text
            ids.append(sent.json()["id"])
        for message_id in ids:
            wait_until(lambda: httpx.get(f"{base}/v1/messages/{message_id}", headers=headers).json()["status"]
                       in ("delivered", "undelivered", "failed"), timeout=90, what=f"{message_id} final")
        # The scheduler's price duty (one round per tick) fetches Twilio's price of each final message.
        usage = wait_until(lambda: (u := httpx.get(f"{base}/v1/usage", headers=headers).json())["unpricedMessages"] == 0
                           and u["messages"] == len(TRAFFIC) and u, timeout=120, what="every message priced")
        ledger = httpx.get(f"{sim}/_sim/ledger", params={"direction": "outbound"}).json()["messages"]
        ledger_total = sum(-Decimal(m["price"]) for m in ledger)
        assert Decimal(usage["cost"]) == ledger_total > 0
        assert {c["country"] for c in usage["byCountry"]} == {"US", "GB", "FR", "UZ"}
        priced = httpx.get(f"{base}/v1/messages/{ids[1]}", headers=headers).json()
        assert priced["priceEstimated"] is False and priced["price"] == next(m["price"] for m in ledger
                                                                             if m["sid"] == priced["twilioSid"])

        cli = subprocess.run([sys.executable, "-m", "smsrelay", "usage", "--org", demo["id"], "--since", "1d", "--json"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert (json.loads(cli.stdout)["cost"], json.loads(cli.stdout)["messages"]) == (usage["cost"], usage["messages"])
        recon = subprocess.run([sys.executable, "-m", "smsrelay", "usage", "reconcile", "--since", "1d", "--json"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert recon.returncode == 0 and json.loads(recon.stdout)["matches"], recon.stdout + recon.stderr

        with httpx.Client(base_url=base, timeout=30) as http:
            log_in(http)
            page = http.get("/dashboard/usage", params={"since": "1d", "org": demo["id"]})
        assert page.status_code == 200
        shown = re.search(r'id="usage-total" data-messages="(\d+)" data-segments="(\d+)" data-cost="([0-9.]+)"', page.text)
        assert shown and (int(shown[1]), int(shown[2]), shown[3]) == (usage["messages"], usage["segments"], usage["cost"])
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    psutil.wait_procs(children, timeout=15)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.TransportError:
        return False
