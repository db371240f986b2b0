"""Fixtures: the simulator under uvicorn on 127.0.0.1, a webhook receiver, and official SDK
clients whose http_client rewrites https://api.twilio.com to the simulator (tests/support/simulator.py)."""

from __future__ import annotations

import threading

import httpx
import pytest
import uvicorn
from twilio.rest import Client

from smsrelay.settings import Settings
from smsrelay.simulator.app import create_app
from smsrelay.simulator.config import SimConfig
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.simulator import TEST_CONFIG, Receiver, SimHttpClient
from tests.support.waiting import wait_until


@pytest.fixture(scope="session")
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(_env_file=None)


@pytest.fixture(scope="session")
def sim_server(settings, receiver):
    port = free_port()
    cfg = SimConfig(_env_file=None, inbound_url=receiver.url("/inbound"), **TEST_CONFIG)
    app = create_app(settings, cfg)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(base + "/_sim/health", timeout=0.5, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=15)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def sim(sim_server, receiver) -> SimulatorClient:
    client = SimulatorClient(sim_server)
    client.reset()
    receiver.clear()
    yield client
    client.reset()
    client.close()


@pytest.fixture
def twilio(sim, sim_server, settings) -> Client:
    http = SimHttpClient(sim_server, timeout=5)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)


@pytest.fixture
def rest(sim, sim_server, settings) -> httpx.Client:
    """Raw HTTP with the account's credentials, for shape and status assertions."""
    with httpx.Client(base_url=f"{sim_server}/2010-04-01/Accounts/{settings.twilio_account_sid}",
                      auth=(settings.twilio_account_sid, settings.twilio_auth_token),
                      timeout=5, trust_env=False) as c:
        yield c
