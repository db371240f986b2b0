"""The signature check's one-HMAC fast path accepts exactly what the SDK's validate() accepts."""

from twilio.request_validator import RequestValidator

from smsrelay.twilio import signature

TOKEN = "12345678901234567890123456789012"
PARAMS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}


def test_the_signed_url__with_or_without_the_default_port__is_valid():
    for configured, signed in [("https://example.com/webhooks/twilio/status?messageId=m1",) * 2,
                               ("https://example.com/webhooks/twilio/status?messageId=m1",
                                "https://example.com:443/webhooks/twilio/status?messageId=m1")]:
        sig = RequestValidator(TOKEN).compute_signature(signed, PARAMS)
        assert signature.is_valid(TOKEN, configured, PARAMS, sig), signed
        assert RequestValidator(TOKEN).validate(configured, dict(PARAMS), sig), "the SDK agrees"


def test_another_url_other_parameters_or_an_odd_header__are_refused():
    sig = RequestValidator(TOKEN).compute_signature("https://example.com/webhooks/twilio/status?messageId=m1", PARAMS)
    assert not signature.is_valid(TOKEN, "https://example.com/webhooks/twilio/status?messageId=m2", PARAMS, sig)
    assert not signature.is_valid(TOKEN, "https://example.com/webhooks/twilio/status?messageId=m1",
                                  {**PARAMS, "MessageStatus": "failed"}, sig)
    assert not signature.is_valid(TOKEN, "https://example.com/webhooks/twilio/status?messageId=m1", PARAMS, "é" + sig)
    assert not signature.is_valid(TOKEN, "https://example.com/webhooks/twilio/status?messageId=m1", PARAMS, None)
