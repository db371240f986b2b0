"""Phone numbers are masked in every log line."""

from __future__ import annotations

import logging
import re

from smsrelay.logs import MaskPhoneNumbers, mask_numbers
from smsrelay.simulator.ledger import SimulatorClient

TO = "+14155552671"


def test_logs__phone_numbers_are_masked():
    record = logging.LogRecord("twilio", logging.INFO, __file__, 1, "POST To=%s From=%s", ("+14155552671", "+15017122661"), None)
    MaskPhoneNumbers().filter(record)
    assert "+14155552671" not in record.getMessage() and "+15017122661" not in record.getMessage()
    assert mask_numbers("call +447700900123 now") == "call +44******23 now"


def test_our_logs__never_carry_a_full_number(stack, caplog):
    caplog.set_level(logging.DEBUG, logger="smsrelay")
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "hi"}).json()
    stack.wait_status(msg["id"], "delivered")
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound("+14155550123", "+15550000000", "to nobody")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("smsrelay")]
    assert ours, "the send and the stray inbound are logged"
    assert not any(re.search(r"\+\d{9,}", m) for m in ours), ours
