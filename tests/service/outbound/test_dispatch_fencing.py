"""A worker that looked dead, and wakes after another run took its send over, does not send."""

from __future__ import annotations

import time

import pytest

from smsrelay import failpoints
from smsrelay.simulator.ledger import SimulatorClient

TO = "+14155550157"
PAUSE = 20.0  # past the stall timeout (3 heartbeats) plus the settle wait (2 x 2 s + 5 s)


@pytest.fixture
def armed():
    yield failpoints
    failpoints.disarm()


def test_worker_paused_before_send_past_the_timeout__one_send(make_stack, armed):
    stack = make_stack(start_worker=False, settings_overrides={"twilio_timeout_seconds": 2.0})
    org = stack.create_org()
    armed.arm("before_send", pause=PAUSE)  # the first run to get there freezes
    stack.start_worker(concurrency=2, heartbeat=1.0)
    stack.start_worker(concurrency=2, heartbeat=1.0)
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "fenced"}).json()
    started = time.monotonic()
    with SimulatorClient(stack.sim.url) as sim:
        row = stack.wait_status(msg["id"], "delivered", timeout=PAUSE + 10)
        # The frozen run wakes; give it time to do whatever it would do.
        time.sleep(max(0.0, PAUSE - (time.monotonic() - started)) + 3)
        assert [m["body"] for m in sim.ledger(to=TO)] == ["fenced"], "sent exactly once"
    assert stack.message(msg["id"])["twilioSid"] == row["twilioSid"]
