"""Status callbacks: Twilio's parameters, signature, idempotency token, modes and retries."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from smsrelay.simulator.callbacks import Signer, form_encode, idempotency_token

from tests.support.sim_numbers import LONG, TO_US
from tests.support.waiting import wait_until


def statuses(hits):
    return [h.params["MessageStatus"] for h in hits]


def test_callbacks_are_signed_and_carry_twilios_parameters(twilio, sim, receiver, settings):
    url = receiver.url("/status?org=42")
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=url)
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 2 and receiver.for_sid(msg.sid))
    assert statuses(hits) == ["sent", "delivered"]  # no callback for the initial "queued"
    validator = RequestValidator(settings.twilio_auth_token)
    for hit in hits:
        assert hit.url == url
        assert validator.validate(hit.url, hit.params, hit.headers["x-twilio-signature"])
        assert hit.params["MessageSid"] == hit.params["SmsSid"] == msg.sid
        assert hit.params["SmsStatus"] == hit.params["MessageStatus"]
        assert hit.params["AccountSid"] == settings.twilio_account_sid
        assert hit.params["From"] == LONG and hit.params["To"] == TO_US
        assert hit.params["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in hit.params
        assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
    sent, delivered = hits
    assert "RawDlrDoneDate" not in sent.params
    assert re.fullmatch(r"\d{10}", delivered.params["RawDlrDoneDate"])
    tokens = {h.headers["i-twilio-idempotency-token"] for h in hits}
    assert len(tokens) == 2  # one per logical callback


def test_tampered_callbacks_do_not_validate(twilio, receiver, settings):
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/status"))
    hit = wait_until(lambda: receiver.for_sid(msg.sid))[0]
    validator = RequestValidator(settings.twilio_auth_token)
    signature = hit.headers["x-twilio-signature"]
    assert validator.validate(hit.url, hit.params, signature)
    assert not validator.validate(hit.url, {**hit.params, "MessageStatus": "delivered"}, signature)
    assert not validator.validate(hit.url + "?x=1", hit.params, signature)
    assert not RequestValidator("another-token").validate(hit.url, hit.params, signature)


def test_failed_delivery_reports_error_code(twilio, sim, receiver):
    sim.set_scenario("unreachable", number=TO_US)
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/status"))
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 2 and receiver.for_sid(msg.sid))
    assert statuses(hits) == ["sent", "undelivered"]
    assert hits[1].params["ErrorCode"] == "30003" and "RawDlrDoneDate" in hits[1].params
    fetched = twilio.messages(msg.sid).fetch()
    assert fetched.status == "undelivered" and fetched.error_code == 30003 and fetched.error_message


def test_messaging_service_sid_is_in_callbacks(twilio, receiver):
    mg = "MG" + "b" * 32
    msg = twilio.messages.create(to=TO_US, messaging_service_sid=mg, body="hi",
                                 status_callback=receiver.url("/status"))
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 2 and receiver.for_sid(msg.sid))
    assert all(h.params["MessagingServiceSid"] == mg for h in hits)


def test_duplicate_mode_sends_each_callback_twice_with_the_same_token(twilio, sim, receiver):
    sim.configure(callback_mode="duplicate")
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/status"))
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 4 and receiver.for_sid(msg.sid))
    assert statuses(hits) == ["sent", "sent", "delivered", "delivered"]
    assert hits[0].headers["i-twilio-idempotency-token"] == hits[1].headers["i-twilio-idempotency-token"]
    assert hits[2].headers["i-twilio-idempotency-token"] == hits[3].headers["i-twilio-idempotency-token"]


def test_out_of_order_mode_sends_sent_after_delivered(twilio, sim, receiver):
    sim.configure(callback_mode="out_of_order")
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/status"))
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 2 and receiver.for_sid(msg.sid))
    assert statuses(hits) == ["delivered", "sent"]


def test_5xx_answers_are_retried_with_the_same_token(twilio, sim, receiver):
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/flaky/2"))
    hits = wait_until(lambda: len(receiver.for_sid(msg.sid)) >= 6 and receiver.for_sid(msg.sid))
    assert statuses(hits) == ["sent"] * 3 + ["delivered"] * 3
    assert len({h.headers["i-twilio-idempotency-token"] for h in hits[:3]}) == 1
    entry = sim.wait_for(lambda rows: len(rows[0]["callbacks"]) == 2)[0]
    assert [(c["status"], c["attempts"], c["http_status"]) for c in entry["callbacks"]] == [
        ("sent", 3, 200), ("delivered", 3, 200)]


def test_retries_are_bounded(twilio, sim, receiver):
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/flaky/99"))
    entry = sim.wait_for(lambda rows: len(rows[0]["callbacks"]) == 2, timeout=10)[0]
    assert [(c["attempts"], c["http_status"]) for c in entry["callbacks"]] == [(3, 503), (3, 503)]
    assert len(receiver.for_sid(msg.sid)) == 6


def test_timeouts_are_retried(twilio, sim, receiver):
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hi", status_callback=receiver.url("/slow"))
    entry = sim.wait_for(lambda rows: len(rows[0]["callbacks"]) == 2, timeout=10)[0]
    sent_cb = entry["callbacks"][0]
    assert sent_cb["status"] == "sent" and sent_cb["attempts"] == 2 and sent_cb["http_status"] == 200
    tokens = [h.headers["i-twilio-idempotency-token"] for h in receiver.for_sid(msg.sid)
              if h.params["MessageStatus"] == "sent"]
    assert len(tokens) == 2 and len(set(tokens)) == 1


@pytest.mark.parametrize("parts", [("SM" + "ab" * 16, "delivered"), ("SM0", "inbound"), ("é", "x/y")])
def test_idempotency_token_is_uuid5_of_the_parts(parts):
    assert idempotency_token(*parts) == str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def test_form_encoding_is_urlencode():
    params = {"To": "+14155552671", "Body": "a b&c=d/é%+", "ErrorCode": "30008", "Empty": ""}
    for _ in range(2):  # once computed, once from the cache
        assert form_encode(params) == urlencode(params)


def test_signatures_validate_with_the_sdk_across_urls_and_params(settings):
    signer = Signer(settings.twilio_auth_token)
    validator = RequestValidator(settings.twilio_auth_token)
    for n in range(3):
        url = f"https://example.com/webhooks/twilio/status?messageId={n}"
        params = {"MessageStatus": "sent", "MessageSid": f"SM{n}", "To": "+14155552671"}
        assert validator.validate(url, params, signer(url, params))
        assert not validator.validate(url + "0", params, signer(url, params))
