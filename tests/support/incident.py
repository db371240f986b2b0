"""Staging incidents for the incident-toolkit tests: a few orgs with mixed real traffic through
the API and the simulator, plus "MessageLog" history inserted directly where volume matters."""

from __future__ import annotations

from typing import Any

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.stack import Stack
from tests.support.waiting import wait_until

NUMBERS = ("+15017122661", "+15017122662", "+15017122663")
OPEN = ("queued", "sending", "accepted", "scheduled", "sent")


def recipient(i: int) -> str:
    return f"+1415555{2600 + i:04d}"


def make_orgs(stack: Stack, numbers: tuple[str, ...] = NUMBERS) -> list[dict]:
    return [stack.create_org(f"Org {i}", numbers=(n,)) for i, n in enumerate(numbers)]


def history(stack: Stack, orgs: list[dict], per_org: int, *, noise: dict[str, int] | None = None) -> None:
    """Delivered outbound rows spread over the last 50 minutes, plus `noise` undelivered rows per
    code (spread over the orgs), as if the service had been running for a while."""
    for i, org in enumerate(orgs):
        stack.sql("""
            INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata",
                                      "createdAt", "sentAt", "finalAt", "twilioSid")
            SELECT 'msg_hist_' || %(org)s || '_' || g, %(org)s, 'outbound', 'delivered', %(number)s,
                   '+1415555' || lpad((3000 + g %% 900)::text, 4, '0'), 'Earlier message', '{}'::jsonb,
                   now() - (g * 47 %% 3000) * interval '1 second', now(), now(), 'SMhist' || %(org)s || g
            FROM generate_series(1, %(n)s) g""", {"org": org["id"], "number": org["numbers"][0], "n": per_org})
    for code, n in (noise or {}).items():
        for k in range(n):
            org = orgs[k % len(orgs)]
            stack.sql("""
                INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata",
                                          "createdAt", "finalAt")
                VALUES (%(id)s, %(org)s, 'outbound', 'undelivered', %(number)s, %(to)s, 'Earlier message',
                        jsonb_build_object('twilioErrorCode', %(code)s::text, 'twilioErrorMessage', 'noise'),
                        now() - (%(k)s * 61 %% 3000) * interval '1 second', now())""",
                      {"id": f"msg_noise_{code}_{k}", "org": org["id"], "number": org["numbers"][0],
                       "to": recipient(500 + k), "code": code, "k": k})


def send(stack: Stack, org: dict, to: str, body: str = "Your table is ready") -> str:
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", json={"to": to, "body": body})
    assert r.status_code == 202, r.text
    return r.json()["id"]


def settled(stack: Stack, ids: list[str], timeout: float = 20.0) -> list[dict]:
    """Wait until each message is final, or is being retried after an error (lastError set)."""

    def done() -> list[dict] | None:
        rows = stack.sql('SELECT "id", "status", "metadata" FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))
        ok = all(r["status"] not in OPEN or isinstance(r["metadata"].get("lastError"), dict) for r in rows)
        return rows if ok and len(rows) == len(ids) else None

    return wait_until(done, timeout=timeout, what="messages to settle")


def sim(stack: Stack) -> SimulatorClient:
    return SimulatorClient(stack.sim.url)


def with_runtime(stack: Stack, fn: Any) -> Any:
    return stack.run(fn)


def diagnose(stack: Stack, since: str = "1h") -> dict:
    from smsrelay.service.operations import incident

    return with_runtime(stack, lambda rt: incident.diagnose(rt, since))


def cli(stack: Stack, monkeypatch: Any, *args: str) -> Any:
    """Run `smsrelay ARGS` in-process against this stack's database and simulator."""
    from typer.testing import CliRunner

    from smsrelay.cli import app
    from smsrelay.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    monkeypatch.setenv("TWILIO_API_BASE", stack.sim.url)
    monkeypatch.setenv("PUBLIC_BASE_URL", stack.api_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def stage_geo_and_unreachable(stack: Stack, failing: dict, healthy: dict, *, geo_to: list[str],
                              bodies: tuple[str, str] = ("ok", "ok"),
                              inbound: tuple[str, str, str] | None = None) -> dict[str, list[str]]:
    """Through the API and the simulator: `failing` delivers 3, sends 2 to unreachable handsets
    (30003) and one message to each of `geo_to` (21408); `healthy` delivers 3; an optional
    inbound (from, to, body) arrives meanwhile. Returns the message ids by final status, once
    every message has reached it."""
    ids: dict[str, list[str]] = {"delivered": [], "failed": [], "undelivered": []}
    with (SimulatorClient(stack.sim.url) as simulator, stack.client(failing["apiKey"]) as bad,
          stack.client(healthy["apiKey"]) as good):
        simulator.set_scenario("unreachable", match="UNREACHABLE")
        simulator.set_scenario("geo_blocked", match="GEO")
        for i in range(3):
            ids["delivered"].append(bad.post("/v1/messages", json={"to": f"+1415555{2600 + i}", "body": bodies[0]}).json()["id"])
            ids["delivered"].append(good.post("/v1/messages", json={"to": f"+1415555{2700 + i}", "body": bodies[1]}).json()["id"])
        for i in range(2):
            ids["undelivered"].append(bad.post("/v1/messages", json={"to": f"+1415555{2800 + i}", "body": "UNREACHABLE"}).json()["id"])
        for to in geo_to:
            ids["failed"].append(bad.post("/v1/messages", json={"to": to, "body": "GEO"}).json()["id"])
        if inbound:
            simulator.send_inbound(*inbound)
    for status, message_ids in ids.items():
        for message_id in message_ids:
            stack.wait_status(message_id, status)
    return ids
