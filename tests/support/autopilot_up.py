"""Staging every runbook cause through the real `smsrelay up` (embedded PostgreSQL, simulator,
API, worker and scheduler as separate processes), for tests/system/test_autopilot_up.py.

One org per cause, each failing in its own scope at once, so one run shows every narrow
mitigation side by side and that none of them stops the others' traffic:

| cause             | org     | simulator scenario                        | the autopilot must        |
|-------------------|---------|-------------------------------------------|---------------------------|
| sender_number     | demo    | sender_number_issue on its number (21606) | hold that sender number   |
| content_filtering | promo   | content_filtering of one template (30007) | hold that template        |
| geo_permissions   | travel  | geo_blocked for FR (21408)                | hold messages to FR       |
| rate_limiting     | burst   | rate_exceeded: 429 over 40/min (20429)    | throttle the org          |
| provider_outage   | carrier | unknown_error on its number (30008)       | hold that sender number   |
| account           | (all)   | balance_exhausted (20403), on its own     | pause all SMS             |

Each org also sends outside its cause's scope (the promo org plain text, the travel org to the
US), and `other` sends throughout: those messages must keep flowing.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.waiting import wait_until

TOKEN = "admin-t0ken"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "X-Operator": "test"}
NUMBERS = {"promo": "+15017122671", "travel": "+15017122672", "burst": "+15017122673",
           "carrier": "+15017122674", "other": "+15017122675"}
TEMPLATE = {"name": "winter_sale", "body": "Hi {{name}}, 50% off every winter coat tonight only"}
# What the carriers filter in this run: the template's wording, not any one sender's.
FILTERED = r"50% off every winter coat"
# The simulator's rate for the burst org's sender, above the autopilot's throttle (its default of
# 30 a minute): throttled, the org stays under it, so the 429s stop while the scenario stands.
RATE_LIMIT = 40
FAST_AUTOPILOT = {  # production defaults act within ~75 s of onset (tests/domain/test_autopilot.py)
    "AUTOPILOT_TICK_SECONDS": "0.5", "AUTOPILOT_CONFIRM_SECONDS": "0", "AUTOPILOT_VERIFY_SECONDS": "1",
    "AUTOPILOT_PROBE_SECONDS": "5", "AUTOPILOT_CLOSE_SECONDS": "0",
    # Twilio's long codes take 1 message a second; the burst would wait a minute in its queue.
    "SIM_SPEED_LONG_CODE": "200",
}
FINAL_FAILURES = ("failed", "undelivered")


@dataclass
class Stage:
    """One cause staged at one org: its scenario, a message in its scope, and the action the
    autopilot must take (scope kind and value, known once the orgs exist)."""

    cause: str
    org: str
    kind: str
    scope: str
    scenario: dict[str, Any]
    in_scope: Callable[[Up], str]
    outside: Callable[[Up], str] | None = None
    value: Callable[[Up], str] = lambda up: ""
    failing: int = 14


def narrow_stages(up: Up) -> list[Stage]:
    demo = up.orgs["demo"]["number"]
    return [
        Stage("sender_number", "demo", "hold", "sender", {"name": "sender_number_issue", "number": demo},
              lambda u: u.send("demo", u.us()), value=lambda u: demo),
        Stage("content_filtering", "promo", "hold", "template", {"name": "content_filtering", "match": FILTERED},
              lambda u: u.send("promo", u.us(), template=TEMPLATE["name"]),
              outside=lambda u: u.send("promo", u.us(), "Your order has shipped"),
              value=lambda u: u.template_id),
        Stage("geo_permissions", "travel", "hold", "country", {"name": "geo_blocked", "country": "FR"},
              lambda u: u.send("travel", u.fr()), outside=lambda u: u.send("travel", u.us()),
              value=lambda u: "FR"),
        Stage("rate_limiting", "burst", "throttle", "org",
              {"name": "rate_exceeded", "number": NUMBERS["burst"], "limit": RATE_LIMIT},
              lambda u: u.send("burst", u.us()), value=lambda u: u.orgs["burst"]["id"], failing=RATE_LIMIT + 14),
        Stage("provider_outage", "carrier", "hold", "sender", {"name": "unknown_error", "number": NUMBERS["carrier"]},
              lambda u: u.send("carrier", u.us()), value=lambda u: NUMBERS["carrier"]),
    ]


@dataclass
class Up:
    """One `smsrelay up` in a temporary home, driven as an operator and the orgs would."""

    tmp_path: Path
    alert_url: str
    env_extra: dict[str, str] = field(default_factory=dict)
    orgs: dict[str, dict] = field(default_factory=dict)
    template_id: str = ""
    sent: dict[str, str] = field(default_factory=dict)  # message id -> org
    recipients: list[str] = field(default_factory=list)
    _n: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def __enter__(self) -> Up:
        self.home = self.tmp_path / "home"
        self.api_port, self.sim_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_URL", "TWILIO_", "SIM_", "PUBLIC_BASE", "AUTOPILOT_", "ALERT_"))}
        env.update(SMSRELAY_HOME=str(self.home), SIMULATOR_PORT=str(self.sim_port), ADMIN_API_TOKEN=TOKEN,
                   ALERT_WEBHOOK_URL=self.alert_url, **FAST_AUTOPILOT, **self.env_extra)
        self.env = env
        self.proc = subprocess.Popen([sys.executable, "-m", "smsrelay", "up", "--port", str(self.api_port)],
                                     cwd=self.tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.children: list[psutil.Process] = []
        try:
            wait_until(lambda: "Ctrl-C stops everything" in self.proc.stdout.readline() or self.proc.poll() is not None,
                       timeout=180, interval=0, what="smsrelay up to be ready")
            assert self.proc.poll() is None, "smsrelay up exited"
            self.base = f"http://127.0.0.1:{self.api_port}"
            self.http = httpx.Client(base_url=self.base, timeout=30)
            self.sim = SimulatorClient(f"http://127.0.0.1:{self.sim_port}", timeout=30)
            demo = json.loads((self.home / "demo-org.json").read_text())
            self.orgs["demo"] = {"id": demo["id"], "apiKey": demo["apiKey"], "number": demo["number"]}
            self.children = psutil.Process(self.proc.pid).children(recursive=True)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop()
        _, alive = psutil.wait_procs(self.children, timeout=15)
        assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def _stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def get(self, path: str, headers: dict[str, str]) -> dict:
        """A read the test polls: a 503 (the API's pool waited too long on a loaded machine, and
        says "retry shortly") is asked again rather than failing the test."""
        r = wait_until(lambda: (r := self.http.get(path, headers=headers)).status_code != 503 and r, timeout=60,
                       interval=0.5, what=f"GET {path} to answer other than 503")
        assert r.status_code == 200, r.text
        return r.json()

    # --- as an operator ----------------------------------------------------------------------
    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "smsrelay", *args], cwd=self.tmp_path, env=self.env,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"smsrelay {' '.join(args)}: {done.stderr or done.stdout}"
        return done.stdout

    def create_orgs(self) -> None:
        """Every org of narrow_stages (at once: each is a process start) and the promo template."""
        procs = {name: subprocess.Popen([sys.executable, "-m", "smsrelay", "org", "create", name.title(),
                                         "--number", number, "--json"], cwd=self.tmp_path, env=self.env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, number in NUMBERS.items()}
        for name, p in procs.items():
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            self.orgs[name] = {**json.loads(out), "number": NUMBERS[name]}
        r = self.http.post("/v1/templates", json=TEMPLATE, headers=self._key("promo"))
        assert r.status_code == 201, r.text
        self.template_id = r.json()["id"]

    def actions(self) -> list[dict]:
        return self.get("/admin/v1/autopilot", ADMIN)["actions"]

    def action(self, action_id: str) -> dict:
        return self.get(f"/admin/v1/autopilot/actions/{action_id}", ADMIN)

    def policy(self, org: str) -> dict:
        return self.get(f"/admin/v1/orgs/{self.orgs[org]['id']}/policy", ADMIN)

    def paused(self) -> bool:
        return bool(self.get("/admin/v1/sms/status", ADMIN).get("paused"))

    # --- as the orgs -------------------------------------------------------------------------
    def _key(self, org: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.orgs[org]['apiKey']}"}

    def us(self) -> str:
        return f"+1415555{next(self._n):04d}"

    def fr(self) -> str:
        return f"+3361234{next(self._n):04d}"

    def send(self, org: str, to: str, body: str = "Your table is ready", *, template: str | None = None) -> str:
        payload = {"to": to, **({"template": template, "variables": {"name": "Ada"}} if template else {"body": body})}
        # Each recipient is this run's only message to it: its key makes asking again after a 503
        # (a loaded machine) safe, never a second message.
        headers = {**self._key(org), "Idempotency-Key": f"send-{to}"}
        r = wait_until(lambda: (r := self.http.post("/v1/messages", json=payload, headers=headers)).status_code != 503
                       and r, timeout=60, interval=0.5, what=f"the send to {to} to answer other than 503")
        assert r.status_code == 202, r.text
        mid = r.json()["id"]
        self.sent[mid] = org
        self.recipients.append(to)
        return mid

    def message(self, mid: str) -> dict:
        return self.get(f"/v1/messages/{mid}", self._key(self.sent[mid]))

    def status(self, mid: str) -> str:
        return self.message(mid)["status"]

    def outcome(self, mid: str) -> str:
        """The status of the message, or of the retry that re-sent it (an operator's or the
        autopilot's retry is a message of its own)."""
        m = self.message(mid)
        while m.get("retriedAs"):
            self.sent[m["retriedAs"]] = self.sent[mid]
            m = self.message(m["retriedAs"])
        return m["status"]

    def held_by(self, mid: str) -> str | None:
        """Why the message is held (autopilot, paused, ...), or None."""
        m = self.message(mid)
        waiting = m.get("waiting") or {}
        return waiting.get("detail") if m["status"] == "queued" and waiting.get("reason") == "held" else None

    def wait_delivered(self, ids: list[str], timeout: float = 120, what: str = "messages to be delivered") -> None:
        wait_until(lambda: all(self.outcome(m) == "delivered" for m in ids), timeout=timeout, interval=0.5,
                   what=lambda: f"{what}: {[(m, self.outcome(m)) for m in ids if self.outcome(m) != 'delivered']}")

    def deliveries(self) -> dict[str, int]:
        """Deliveries in the simulator's ledger of every recipient this run sent to (one each)."""
        counts: dict[str, int] = dict.fromkeys(self.recipients, 0)
        for m in self.sim.ledger():
            if m.get("direction", "outbound").startswith("outbound") and m["status"] == "delivered" \
                    and m["to"] in counts:
                counts[m["to"]] += 1
        return counts


def since(onset: datetime, action: dict) -> float:
    return (datetime.fromisoformat(action["createdAt"]) - onset).total_seconds()
