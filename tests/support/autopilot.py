"""Staging a runbook cause for the autopilot's tests: orgs with traffic, the simulator's scenario,
a JSON webhook that collects the autopilot's announcements, and the ledger checks (every
message delivered once, none twice)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from fastapi import FastAPI, Request

from tests.support.servers import ThreadedServer

NUMBERS = ("+15017122661", "+15017122662", "+15017122663")
FR = "+336123456"


@dataclass
class Case:
    cause: str
    scenario: str
    scope: tuple[str, str | None]  # (scopeKind, value) the autopilot must pick
    kind: str
    filters: dict = field(default_factory=dict)
    target: int = 0  # the org whose traffic the scenario hits
    body: str = "Your table is ready"
    to: str | None = None  # prefix of the target's recipients (else US numbers)


CASES = [
    Case("account", "account_suspended", ("all", None), "pause"),
    Case("sender_number", "sender_number_issue", ("sender", NUMBERS[1]), "hold", {"number": NUMBERS[1]}, target=1),
    Case("content_filtering", "content_filtering", ("sender", NUMBERS[0]), "hold", target=0,
         body="Deal! https://bit.ly/3xYz now"),
    Case("geo_permissions", "geo_blocked", ("country", "FR"), "hold", {"country": "FR"}, target=0, to=FR),
    Case("rate_limiting", "rate_limited", ("org", None), "throttle", {"number": NUMBERS[2]}, target=2),
    Case("provider_outage", "unknown_error", ("sender", NUMBERS[1]), "hold", {"number": NUMBERS[1]}, target=1),
]


def recipient(case: Case, i: int, k: int) -> str:
    if case.to and i == case.target:
        return f"{case.to}{k:02d}"
    return f"+1415555{3000 + 100 * i + k:04d}"


class Announcements:
    """A JSON webhook (ALERT_WEBHOOK_URL) collecting what the autopilot announces."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/webhook")
        async def receive(request: Request):
            body = await request.json()
            with self.lock:
                self.posts.append(body)
            return {"received": True}

        self.server = ThreadedServer(app).start()

    @property
    def url(self) -> str:
        return f"{self.server.url}/webhook"

    def titles(self) -> list[str]:
        with self.lock:
            return [p["alert"]["title"] for p in self.posts if p["alert"]["rule"] == "autopilot"]

    def stop(self) -> None:
        self.server.stop()


def delivered_once(ledger: list[dict], recipients: list[str]) -> dict[str, int]:
    """Deliveries per recipient in the simulator's ledger (each test message has its own)."""
    counts = Counter(m["to"] for m in ledger if m.get("direction", "outbound").startswith("outbound")
                     and m["status"] == "delivered")
    return {r: counts.get(r, 0) for r in recipients}
