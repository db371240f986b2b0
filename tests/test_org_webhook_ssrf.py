"""An org's webhook URL is chosen by the org: forwarding must never reach our own network
(loopback, private ranges, link-local, the cloud metadata service) unless the operator allows it,
and the check holds for names, not just literal addresses. Refusal happens before connecting."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from smsrelay.service.delivery import inbound
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.webhook_servers import LoopbackServer

NUMBER = "+15017122661"

REFUSED_URLS = [
    "http://127.0.0.1:{port}/hook",
    "http://localhost:{port}/hook",        # a name that resolves to loopback
    "http://[::1]:{port}/hook",
    "http://10.20.30.40:{port}/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:127.0.0.1]:{port}/hook",  # loopback dressed as IPv6
]


@pytest.fixture
def listener():
    server = LoopbackServer().start()
    yield server
    server.stop()


def _inbound_message(stack) -> str:
    with SimulatorClient(stack.sim.url) as sim:
        answer = sim.send_inbound("+14155550123", NUMBER, "hello")
    assert answer["status"] == 200
    return stack.sql('SELECT "id" FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["id"]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_forward__refuses_a_non_public_address_without_connecting(make_stack, listener, url):
    stack = make_stack(start_worker=False, settings_overrides={"webhook_allow_private_networks": False})
    stack.create_org(numbers=(NUMBER,), inbound_webhook_url=url.format(port=listener.port))
    message_id = _inbound_message(stack)

    async def forward(rt):
        # Bounded: the code before the fix tried to connect (10.x hangs until its timeout).
        return await asyncio.wait_for(inbound.forward(rt, message_id), timeout=20)

    outcome = stack.run(forward)
    assert outcome == "refused"
    error = stack.message(message_id)["metadata"]["forwardError"]
    assert error["code"] == "webhook_address_refused", error
    assert listener.connections == 0, "refused after connecting"


def test_forward__private_address_allowed_by_the_setting(make_stack, listener):
    stack = make_stack(start_worker=False, settings_overrides={"webhook_allow_private_networks": True})
    stack.create_org(numbers=(NUMBER,), inbound_webhook_url=f"http://localhost:{listener.port}/hook")
    message_id = _inbound_message(stack)
    assert stack.run(lambda rt: inbound.forward(rt, message_id)) == "forwarded"
    assert listener.connections == 1
    assert "forwardedAt" in stack.message(message_id)["metadata"]


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
                                     "169.254.169.254", "169.254.1.1", "0.0.0.0", "224.0.0.1", "240.0.0.1",
                                     "::1", "fe80::1", "fc00::1", "fd00:ec2::254", "::ffff:10.0.0.1", "ff02::1", "::"])
def test_address_rule__refuses_every_non_public_range(address):
    from smsrelay import org_webhook

    assert org_webhook.refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_address_rule__public_addresses_pass(address):
    from smsrelay import org_webhook

    assert org_webhook.refusal(ipaddress.ip_address(address)) is None


def test_every_resolved_address_is_checked():
    """A name with one public and one private address is refused: the connection could pick either."""
    from smsrelay import org_webhook

    async def resolver(host, port):
        return [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("10.0.0.5")]

    with pytest.raises(org_webhook.WebhookRefused):
        asyncio.run(org_webhook.checked_addresses("mixed.example", 80, allow_private=False, resolve=resolver))


class _Redirect(LoopbackServer):
    target = ""

    def serve(self, conn):
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {self.target}\r\nContent-Length: 0\r\n\r\n".encode())


def test_forward__a_redirect_is_not_followed(make_stack, listener):
    """Each hop would need the address rule again; a 3xx is a failed attempt instead."""
    redirect = _Redirect()
    redirect.target = listener.url
    redirect.start()
    try:
        stack = make_stack(start_worker=False)
        stack.create_org(numbers=(NUMBER,), inbound_webhook_url=redirect.url)
        message_id = _inbound_message(stack)
        with pytest.raises(inbound.ForwardFailed, match="302"):
            stack.run(lambda rt: inbound.forward(rt, message_id))
    finally:
        redirect.stop()
    assert redirect.connections == 1 and listener.connections == 0
