"""Steady API traffic for several orgs, and what the simulator's ledger says was sent."""

from __future__ import annotations

import threading
import time
from collections import Counter

from tests.support.stack import Stack


class Traffic:
    """Posts messages for several orgs in turn, every `interval` seconds, until stopped."""

    def __init__(self, stack: Stack, orgs: dict[str, dict], to: str = "+14155552671", interval: float = 0.1):
        self.stack, self.orgs, self.to, self.interval = stack, orgs, to, interval
        self.sent: list[dict] = []  # {"org", "id", "body", "at"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        clients = {name: self.stack.client(org["apiKey"]) for name, org in self.orgs.items()}
        try:
            i = 0
            while not self._stop.is_set():
                for name, client in clients.items():
                    body = f"{name}-{i}"
                    r = client.post("/v1/messages", json={"to": self.to, "body": body})
                    assert r.status_code == 202, r.text
                    self.sent.append({"org": name, "id": r.json()["id"], "body": body, "at": time.time()})
                i += 1
                self._stop.wait(self.interval)
        except BaseException as exc:  # surfaced by stop()
            self.error = exc
        finally:
            for c in clients.values():
                c.close()

    def start(self) -> "Traffic":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error:
            raise self.error

    def of(self, name: str) -> list[dict]:
        return [m for m in self.sent if m["org"] == name]


def outbound_ledger(sim, from_: str) -> list[dict]:
    return sorted((m for m in sim.ledger(from_=from_) if m["direction"] != "inbound"), key=lambda m: m["created_ts"])


def assert_each_sent_once(ledger: list[dict], bodies: list[str]) -> None:
    counts = Counter(m["body"] for m in ledger)
    duplicates = {b: n for b, n in counts.items() if n > 1}
    assert not duplicates, f"sent more than once: {duplicates}"
    assert sorted(counts) == sorted(bodies), f"missing {set(bodies) - set(counts)}, extra {set(counts) - set(bodies)}"


def statuses(stack: Stack, ids: list[str]) -> dict[str, dict]:
    rows = stack.sql('SELECT "id", "status", "metadata" FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))
    return {r["id"]: r for r in rows}
