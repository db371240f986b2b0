"""Inbound SMS: signed webhook with Twilio's parameters, TwiML passed back, STOP -> 21610."""

from __future__ import annotations

import re

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from tests.support.sim_numbers import LONG, LONG2, TO_US, TO_US2


def test_inbound_posts_a_signed_webhook_and_returns_twiml(sim, receiver, settings):
    result = sim.send_inbound(TO_US, LONG, "Hello there")
    assert result["status"] == 200
    assert "<Message>got: Hello there</Message>" in result["body"]
    hit = [h for h in receiver.hits if h.path == "/inbound"][-1]
    p = hit.params
    assert re.fullmatch(r"SM[0-9a-f]{32}", p["MessageSid"]) and p["MessageSid"] == result["message_sid"]
    assert p["SmsSid"] == p["SmsMessageSid"] == p["MessageSid"]
    assert (p["From"], p["To"], p["Body"]) == (TO_US, LONG, "Hello there")
    assert p["AccountSid"] == settings.twilio_account_sid and p["ApiVersion"] == "2010-04-01"
    assert p["NumMedia"] == "0" and p["NumSegments"] == "1" and p["SmsStatus"] == "received"
    assert p["FromCountry"] == "US" and p["ToCountry"] == "US"
    assert RequestValidator(settings.twilio_auth_token).validate(hit.url, p, hit.headers["x-twilio-signature"])
    entry = sim.ledger(direction="inbound")[0]
    assert entry["sid"] == result["message_sid"] and entry["status"] == "received"


def test_inbound_goes_to_the_numbers_sms_url(twilio, sim, receiver):
    twilio.incoming_phone_numbers.create(phone_number=LONG2, sms_url=receiver.url("/inbound?tenant=7"))
    sim.send_inbound(TO_US, LONG2, "hi")
    # The latest inbound hit (a late status callback of an earlier test may land after it).
    assert [h for h in receiver.hits if h.path == "/inbound"][-1].url == receiver.url("/inbound?tenant=7")


def test_stop_makes_later_sends_fail_with_21610_when_opted_out_is_active(twilio, sim):
    assert sim.send_inbound(TO_US, LONG, "STOP")["keyword"] == "opt_out"
    # Without the scenario, the simulator still delivers (Twilio's filter is what the scenario adds).
    assert twilio.messages.create(to=TO_US, from_=LONG, body="before").status == "queued"
    sim.set_scenario("opted_out")
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages.create(to=TO_US, from_=LONG, body="after STOP")
    assert (exc.value.status, exc.value.code) == (400, 21610)
    # other recipients, and other senders to the same recipient, are unaffected
    assert twilio.messages.create(to=TO_US2, from_=LONG, body="x").status == "queued"
    assert twilio.messages.create(to=TO_US, from_=LONG2, body="x").status == "queued"
    assert sim.send_inbound(TO_US, LONG, "START")["keyword"] == "opt_in"
    assert twilio.messages.create(to=TO_US, from_=LONG, body="welcome back").status == "queued"


def test_inbound_to_a_dead_endpoint_reports_the_failure(sim):
    sim.configure(inbound_url="http://127.0.0.1:9/nothing-listens-here")
    result = sim.send_inbound(TO_US, LONG, "hello?")
    assert result["status"] is None and result["error"]
