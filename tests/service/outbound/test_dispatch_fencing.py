"""A worker that looked dead, and wakes after another run took its send over, does not send."""

from __future__ import annotations

import threading
import time

import pytest

from smsrelay import failpoints
from smsrelay.service.outbound import dispatch
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until

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


def _stale_run(stack, armed, message_id):
    """Start a run of the send that reads the message and then stands still just before the
    request; returns (resume, result): set `resume` to let it go on, read `result` after."""
    resume, result = threading.Event(), {}
    armed.arm("before_send", pause=120.0, until=resume)
    thread = threading.Thread(target=lambda: result.update(
        outcome=stack.run(lambda rt: dispatch.send_message(rt, message_id))))
    thread.start()
    wait_until(lambda: armed.frozen("before_send"), what="the first run to stand still before its request")
    return resume, result, thread


def test_run_that_read_before_another_run_sent__does_not_send(make_stack, armed):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "stale read"}).json()
    resume, first, thread = _stale_run(stack, armed, msg["id"])
    assert stack.run(lambda rt: dispatch.send_message(rt, msg["id"])) == "sent"
    resume.set()
    thread.join(timeout=60)
    assert first["outcome"] == "superseded"
    with SimulatorClient(stack.sim.url) as sim:
        assert [m["body"] for m in sim.ledger(to=TO)] == ["stale read"], "sent exactly once"


def test_run_that_read_before_a_refused_attempt__does_not_send(make_stack, armed):
    """The other run's request was refused outright, which clears its marker: the message looks
    as unsent as when the first run read it, but a request was counted since, so it stays out."""
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "refused meanwhile"}).json()
    resume, first, thread = _stale_run(stack, armed, msg["id"])
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("rate_limited")
        assert stack.run(lambda rt: dispatch.send_message(rt, msg["id"])) == "retry"
        resume.set()
        thread.join(timeout=60)
        assert first["outcome"] == "superseded"
        assert stack.message(msg["id"])["metadata"]["attempts"] == 1, "only the other run's request"
