"""Once Twilio has accepted a message, failing to record it never leads to another send."""

from __future__ import annotations

import logging
import time

from smsrelay.service.outbound import dispatch
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until

SETTLE = 2 * 2.0 + 5  # what a re-run would wait before resending, with a 2 s timeout


def test_sid_that_cannot_be_written__held_unknown_with_an_error_and_never_resent(make_stack, caplog):
    caplog.set_level(logging.ERROR, logger="smsrelay")
    stack = make_stack(settings_overrides={"twilio_timeout_seconds": 2.0})
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        first = api.post("/v1/messages", json={"to": "+14155550171", "body": "first"}).json()
        taken = wait_until(lambda: stack.message(first["id"])["twilioSid"], what="the first sid")
        # As a simulator restarted with the same seed used to: the next sid is one we hold.
        engine = stack.sim.server.config.app.state.engine
        issue, reissue = engine.state.new_sid, [taken]
        engine.state.new_sid = lambda prefix: reissue.pop() if reissue and prefix == "SM" else issue(prefix)
        to = "+14155550172"
        second = api.post("/v1/messages", json={"to": to, "body": "second"}).json()
        row = wait_until(lambda: (m := stack.message(second["id"]))["metadata"].get("outcome") == "unknown" and m,
                         timeout=SETTLE + 10, what=lambda: f"the second message held unknown, ledger {sim.ledger(to=to)}")
        time.sleep(SETTLE + 3)  # past the point where a re-run would have resent it
        assert len(sim.ledger(to=to)) == 1, "accepted once, never sent again"
    row = stack.message(second["id"])
    assert row["status"] == "queued" and row["metadata"]["hold"]["reason"] == "unknown_outcome"
    assert row["metadata"]["acceptedSid"] == taken
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and second["id"] in r.getMessage()]
    assert errors, "an ERROR names the message"

    # Reconciliation leaves a sid that really is another row's to an operator...
    assert stack.run(dispatch.settle_unknown_outcomes)["operator"] == 1
    assert stack.message(second["id"])["metadata"]["outcome"] == "unknown"
    # ...and records it once it is free (here: the operator took it off the other row).
    stack.sql('UPDATE "MessageLog" SET "twilioSid" = NULL WHERE "id" = %s', (first["id"],))
    assert stack.run(dispatch.settle_unknown_outcomes)["adopted"] == 1
    row = stack.message(second["id"])
    assert row["twilioSid"] == taken and row["metadata"].get("outcome") is None and row["status"] != "queued"
