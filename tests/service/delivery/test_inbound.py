"""Inbound SMS: stored, and forwarded to the org's webhook signed with the org's secret."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.support.event_receiver import verify_with_python_snippet
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.ports import free_port
from tests.support.waiting import wait_until


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def org_webhook():
    port = free_port()
    handler = type("Receiver", (_Receiver,), {"received": []})
    server = HTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}/hook", handler.received
    server.shutdown()


def test_inbound__stored_and_forwarded_signed_to_the_org(stack, org_webhook):
    url, received = org_webhook
    org = stack.create_org(numbers=("+15017122661",), inbound_webhook_url=url)
    with SimulatorClient(stack.sim.url) as sim:
        answer = sim.send_inbound("+14155550123", "+15017122661", "Is my order ready?")
    assert answer["status"] == 200
    assert "<Response" in answer["body"]
    rows = stack.sql('SELECT * FROM "MessageLog" WHERE "direction" = \'inbound\'')
    assert len(rows) == 1
    assert rows[0]["status"] == "received" and rows[0]["orgId"] == org["id"]
    assert rows[0]["content"] == "Is my order ready?" and rows[0]["twilioSid"].startswith("SM")
    wait_until(lambda: received, timeout=15, what="the org's webhook to be called")
    headers, body = received[0]
    headers = {k.lower(): v for k, v in headers.items()}
    assert verify_with_python_snippet(org["signingSecret"], headers["smsrelay-signature"], body)
    payload = json.loads(body)["data"]
    assert payload["message"]["body"] == "Is my order ready?" and payload["message"]["from"] == "+14155550123"
