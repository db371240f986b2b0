"""Forwarding inbound texts to orgs' webhooks runs beside sending, never instead of it: anyone
can trigger forwards by texting an org's number, so a slow webhook must not starve sends, nor
other orgs' forwards."""

from __future__ import annotations

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until
from tests.support.webhook_servers import LoopbackServer, Tarpit

SLOW_NUMBER, OTHER_NUMBER = "+15017122661", "+15017122662"


@pytest.fixture
def tarpit():
    server = Tarpit().start()
    yield server
    server.stop()


@pytest.fixture
def receiver():
    server = LoopbackServer().start()
    yield server
    server.stop()


def test_tarpit_webhook__another_orgs_send_and_forward_go_through(make_stack, tarpit, receiver):
    # The tarpit never goes quiet for a second, so only a total deadline would end an attempt;
    # 60 s keeps every forward to it in flight for the whole test.
    stack = make_stack(start_worker=False, settings_overrides={"webhook_timeout_seconds": 60,
                                                              "webhook_per_org_concurrency": 2})
    stack.create_org("Slow", numbers=(SLOW_NUMBER,), inbound_webhook_url=tarpit.url)
    other = stack.create_org("Other", numbers=(OTHER_NUMBER,), inbound_webhook_url=receiver.url)
    with SimulatorClient(stack.sim.url) as sim:
        for i in range(25):
            assert sim.send_inbound(f"+1415555{3000 + i}", SLOW_NUMBER, f"hello {i}")["status"] == 200
    stack.start_worker(concurrency=10)
    wait_until(lambda: tarpit.connections >= 1, timeout=15, what="forwards to the tarpit to start")

    with stack.client(other["apiKey"]) as api:
        sent = api.post("/v1/messages", json={"to": "+14155552671", "body": "Your order is ready"})
    assert sent.status_code == 202
    stack.wait_status(sent.json()["id"], "delivered", timeout=10)

    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound("+14155559999", OTHER_NUMBER, "thanks")["status"] == 200
    wait_until(lambda: receiver.connections >= 1, timeout=10, what="the other org's forward")

    assert tarpit.peak <= 2, f"{tarpit.peak} forwards to one org at once, over its cap of 2"
