"""The adapter turns every SDK and transport error into its own three outcomes, and nothing
outside it (the simulator aside) touches the SDK or aiohttp."""

from __future__ import annotations

import ast
import asyncio
import socket
import threading
from pathlib import Path

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.twilio.gateway import Ambiguous, Refused, TwilioGateway, Unavailable
from tests.support.ports import free_port

SRC = Path(__file__).resolve().parents[2] / "src" / "smsrelay"
OUTSIDE_ALLOWED = ("twilio", "simulator")


def _call(base_url: str, method: str, timeout: float = 1.0, **kwargs):
    async def go():
        gw = TwilioGateway("AC" + "0" * 32, "token", base_url, timeout=timeout)
        try:
            return await getattr(gw, method)(**kwargs)
        finally:
            await gw.close()

    return asyncio.run(go())


SEND = dict(to="+14155550100", from_="+15017122661", body="hi", status_callback="http://127.0.0.1:1/cb")


class HostileServer:
    """Reads the request, then either hangs up without a word or never answers."""

    def __init__(self, mode: str):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.requests = 0
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(2)
            try:
                conn.recv(65536)
            except OSError:
                pass
            self.requests += 1
            if self.mode == "reset":
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        self.sock.close()


@pytest.fixture
def hostile():
    servers: list[HostileServer] = []

    def make(mode: str) -> HostileServer:
        servers.append(HostileServer(mode))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.mark.parametrize("method,kwargs", [("send", SEND), ("fetch_message", {"sid": "SM" + "1" * 32}),
                                           ("balance", {}), ("account", {}), ("numbers", {})])
def test_nothing_listening__unavailable_for_every_call(method, kwargs):
    with pytest.raises(Unavailable) as err:
        _call(f"http://127.0.0.1:{free_port()}", method, **kwargs)
    assert err.value.definite and err.value.retryable


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_request_sent_then_no_answer__ambiguous(hostile, mode):
    server = hostile(mode)
    with pytest.raises(Ambiguous) as err:
        _call(server.url, "send", **SEND)
    assert server.requests == 1
    assert not err.value.definite and err.value.retryable
    with pytest.raises(Ambiguous):
        _call(server.url, "fetch_message", sid="SM" + "1" * 32)


CHECKS = [("balance", {}), ("account", {}), ("numbers", {}), ("numbers", {"phone_number": "+15017122661"})]


def _blocking(base_url: str, method: str, timeout: float = 1.0, **kwargs):
    return getattr(TwilioGateway("AC" + "0" * 32, "token", base_url, timeout=timeout), f"{method}_blocking")(**kwargs)


@pytest.mark.parametrize("method,kwargs", CHECKS)
def test_blocking_checks__same_three_outcomes_on_the_synchronous_transport(hostile, method, kwargs):
    """The diagnosis's checks use the SDK's requests transport (no aiohttp): nothing listening is
    Unavailable, a reset after the request is Ambiguous, silence is Ambiguous and timed out."""
    with pytest.raises(Unavailable) as nobody:
        _blocking(f"http://127.0.0.1:{free_port()}", method, **kwargs)
    assert nobody.value.definite and nobody.value.retryable
    reset = hostile("reset")
    with pytest.raises(Ambiguous) as hung_up:
        _blocking(reset.url, method, **kwargs)
    assert reset.requests >= 1 and not hung_up.value.timed_out
    with pytest.raises(Ambiguous) as silent:
        _blocking(hostile("hang").url, method, timeout=0.3, **kwargs)
    assert silent.value.timed_out


def test_simulator_answers__refused_with_its_code_or_ambiguous_on_5xx(make_stack):
    stack = make_stack(start_worker=False)
    base, sid, token = stack.settings.twilio_base_url, stack.settings.twilio_account_sid, stack.settings.twilio_auth_token

    def call(method, **kwargs):
        async def go():
            gw = TwilioGateway(sid, token, base, timeout=5)
            try:
                return await getattr(gw, method)(**kwargs)
            finally:
                await gw.close()
        return asyncio.run(go())

    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("invalid_to")
        with pytest.raises(Refused) as refused:
            call("send", **SEND)
        assert refused.value.code == 21211 and refused.value.definite and not refused.value.retryable
        sim.clear_scenarios()
        sim.set_scenario("created_then_5xx")
        with pytest.raises(Ambiguous) as ambiguous:
            call("send", **SEND)
        assert ambiguous.value.http_status == 502 and not ambiguous.value.definite
        sim.clear_scenarios()
        sim.set_scenario("auth_failure")
        for method, kwargs in (("balance", {}), ("account", {}), ("numbers", {}),
                               ("fetch_message", {"sid": "SM" + "1" * 32})):
            with pytest.raises(Refused) as auth:
                call(method, **kwargs)
            assert auth.value.code == 20003
        for method, kwargs in CHECKS:
            gw = TwilioGateway(sid, token, base, timeout=5)
            with pytest.raises(Refused) as auth:
                getattr(gw, f"{method}_blocking")(**kwargs)
            assert auth.value.code == 20003 and auth.value.http_status == 401
        sim.clear_scenarios()
        gw = TwilioGateway(sid, token, base, timeout=5)
        assert gw.account_blocking()["status"] == "active" and gw.balance_blocking()["currency"]


def _imports(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_only_the_adapter_imports_the_sdk_or_aiohttp():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in OUTSIDE_ALLOWED:
            continue
        found = _imports(path) & {"twilio", "aiohttp"}
        if found:
            offenders.append(f"{rel}: {', '.join(sorted(found))}")
    assert offenders == []
