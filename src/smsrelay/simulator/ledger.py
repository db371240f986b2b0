"""A small client for the simulator's admin API, for tests, the demo and benchmarks.

    sim = SimulatorClient("http://127.0.0.1:8010")
    sim.reset()
    sim.set_scenario("content_filtering", match=r"bit\\.ly")
    sim.send_inbound("+14155550100", "+16505551234", "STOP")
    assert [m["status"] for m in sim.ledger(to="+14155550100")] == ["delivered"]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import httpx


class SimulatorClient:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        # A new connection per call: a kept-alive one can be closed by the server's idle timeout
        # just as the next call goes out (a "connection reset" seen on CI), and these calls are few.
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False,
                                  limits=httpx.Limits(max_keepalive_connections=0))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ok(self, resp: httpx.Response) -> dict:
        if resp.status_code >= 400:
            raise RuntimeError(f"simulator answered {resp.status_code}: {resp.text}")
        return resp.json()

    # --- ledger ----------------------------------------------------------------------------
    def ledger(self, to: str | None = None, from_: str | None = None,
               direction: str | None = None) -> list[dict]:
        params = {k: v for k, v in (("to", to), ("from", from_), ("direction", direction)) if v}
        return self._ok(self._http.get("/_sim/ledger", params=params))["messages"]

    def message(self, sid: str) -> dict | None:
        return next((m for m in self.ledger() if m["sid"] == sid), None)

    def wait_for(self, predicate: Callable[[list[dict]], bool], timeout: float = 10.0,
                 interval: float = 0.05, **filters) -> list[dict]:
        """Poll the ledger until predicate(rows) holds; return the rows (or raise TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.ledger(**filters)
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"ledger condition not met within {timeout}s: {rows[-3:]}")
            time.sleep(interval)

    def wait_for_status(self, sid: str, statuses: Iterable[str], timeout: float = 10.0) -> dict:
        wanted = set(statuses)
        rows = self.wait_for(lambda r: any(m["sid"] == sid and m["status"] in wanted for m in r),
                             timeout=timeout)
        return next(m for m in rows if m["sid"] == sid)

    # --- scenarios -------------------------------------------------------------------------
    def set_scenario(self, name: str, *, number: str | None = None, match: str | None = None,
                     country: str | None = None, rate: float | None = None,
                     for_seconds: float | None = None, code: int | None = None, limit: int | None = None,
                     per_seconds: float | None = None) -> dict | None:
        body = {"name": name, "number": number, "match": match, "country": country,
                "rate": rate, "for_seconds": for_seconds, "code": code}
        if limit is not None or per_seconds is not None:  # rate scenarios (rate_exceeded)
            body |= {"limit": limit, "per_seconds": per_seconds}
        return self._ok(self._http.post("/_sim/scenarios", json=body))["scenario"]

    def remove_scenario(self, scenario_id: int) -> None:
        """Clear one scenario; the others stay active."""
        self._ok(self._http.delete(f"/_sim/scenarios/{scenario_id}"))

    def scenarios(self) -> list[dict]:
        return self._ok(self._http.get("/_sim/scenarios"))["active"]

    def available_scenarios(self) -> dict[str, str]:
        return self._ok(self._http.get("/_sim/scenarios"))["available"]

    def clear_scenarios(self) -> None:
        self._ok(self._http.delete("/_sim/scenarios"))

    # --- other controls --------------------------------------------------------------------
    def reset(self) -> None:
        """Forget messages, numbers, opt-outs and scenarios; restore the start-up config."""
        self._ok(self._http.post("/_sim/reset"))

    def configure(self, **changes) -> dict:
        """Change run-time settings, e.g. configure(callback_mode="duplicate", speed_long_code=5)."""
        return self._ok(self._http.patch("/_sim/config", json=changes))

    def config(self) -> dict:
        return self._ok(self._http.get("/_sim/config"))

    def send_inbound(self, from_: str, to: str, body: str) -> dict:
        """Have `from_` text `to`; returns our endpoint's answer: status, body (TwiML), message_sid."""
        return self._ok(self._http.post("/_sim/inbound", json={"from": from_, "to": to, "body": body}))

    def health(self) -> dict:
        return self._ok(self._http.get("/_sim/health"))
