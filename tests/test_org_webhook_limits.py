"""One forwarding attempt is bounded in time (from DNS to the last byte, not per phase) and in
the bytes it reads, whatever the org's webhook does."""

from __future__ import annotations

import asyncio

import pytest

from smsrelay.service.delivery import inbound
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.webhook_servers import EndlessBody, Tarpit

NUMBER = "+15017122661"


def _inbound_message(stack) -> str:
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound("+14155550123", NUMBER, "hello")["status"] == 200
    return stack.sql('SELECT "id" FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["id"]


@pytest.fixture
def endless():
    server = EndlessBody().start()
    yield server
    server.stop()


@pytest.fixture
def tarpit():
    server = Tarpit().start()
    yield server
    server.stop()


def test_forward__an_endless_answer_is_cut_at_the_cap(make_stack, endless):
    cap = 64 * 1024
    stack = make_stack(start_worker=False, settings_overrides={"webhook_max_response_bytes": cap,
                                                              "webhook_timeout_seconds": 60})
    stack.create_org(numbers=(NUMBER,), inbound_webhook_url=endless.url)
    message_id = _inbound_message(stack)

    async def forward(rt):
        # Well inside the 60 s deadline: only the cap can end this attempt. Before the fix the
        # whole body was read into memory, for as long as the webhook kept sending.
        return await asyncio.wait_for(inbound.forward(rt, message_id), timeout=20)

    assert stack.run(forward) == "forwarded"
    assert "forwardedAt" in stack.message(message_id)["metadata"]


def test_post__reads_at_most_the_cap(endless):
    from smsrelay import org_webhook

    limits = org_webhook.Limits(deadline_seconds=60, max_response_bytes=10_000, allow_private_networks=True)
    answer = asyncio.run(org_webhook.post(endless.url, b"{}", {"Content-Type": "application/json"}, limits))
    assert answer.status == 200 and answer.truncated
    assert len(answer.body) == 10_000


def test_forward__a_tarpit_is_abandoned_at_the_total_deadline(make_stack, tarpit):
    stack = make_stack(start_worker=False, settings_overrides={"webhook_timeout_seconds": 2})
    stack.create_org(numbers=(NUMBER,), inbound_webhook_url=tarpit.url)
    message_id = _inbound_message(stack)

    async def forward(rt):
        # The tarpit is never silent for a whole second, so a per-read timeout never fires:
        # before the fix this attempt ran for hours. Only a total deadline ends it.
        return await asyncio.wait_for(inbound.forward(rt, message_id), timeout=20)

    with pytest.raises(inbound.ForwardFailed, match="within 2 s"):
        stack.run(forward)
    assert tarpit.connections == 1
