"""The Twilio webhooks' request checks: signatures, form decoding and limits."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

TO = "+14155552671"


def _send(stack, key, **body):
    with stack.client(key) as api:
        return api.post("/v1/messages", json={"to": TO, "body": "hello", **body})


def test_status_callback__missing_or_wrong_signature_is_403_and_changes_nothing(stack):
    org = stack.create_org()
    stack.stop_workers()
    msg = _send(stack, org["apiKey"]).json()
    url = f"{stack.api_url}/webhooks/twilio/status?messageId={msg['id']}"
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": stack.settings.twilio_account_sid}
    good = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    with httpx.Client() as http:
        assert http.post(url, data=params).status_code == 403
        assert http.post(url, data=params, headers={"X-Twilio-Signature": "bm9wZQ=="}).status_code == 403
        tampered = dict(params, MessageStatus="failed")
        r = http.post(url, data=tampered, headers={"X-Twilio-Signature": good})
        assert r.status_code == 403 and r.json()["error"]["code"] == "invalid_signature"
    assert stack.message(msg["id"])["status"] == "queued"
    assert stack.sql('SELECT count(*) AS n FROM "MessageEvent"')[0]["n"] == 0


def test_inbound__bad_signature_is_403_and_stores_nothing(stack):
    stack.create_org()
    r = httpx.post(f"{stack.api_url}/webhooks/twilio/inbound",
                   data={"From": "+14155550123", "To": "+15017122661", "Body": "hi", "MessageSid": "SM" + "c" * 32},
                   headers={"X-Twilio-Signature": "AAAA"})
    assert r.status_code == 403
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_inbound__form_decoded_exactly_as_signed_in_either_encoding(stack, encoding):
    # Twilio sends urlencoded (parsed by the standard library); anything else still goes
    # through Starlette's parser. Both must give the signature check the same text.
    stack.create_org()
    body = "Café + 100% ✓ a&b=c;d"
    params = {"From": "+14155550123", "To": "+15017122661", "Body": body, "MessageSid": "SM" + "e" * 32,
              "AccountSid": stack.settings.twilio_account_sid}
    url = f"{stack.api_url}/webhooks/twilio/inbound"
    signature = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    headers = {"X-Twilio-Signature": signature}
    if encoding == "urlencoded":
        r = httpx.post(url, data=params, headers=headers)
    else:
        r = httpx.post(url, files={k: (None, v) for k, v in params.items()}, headers=headers)
    assert r.status_code == 200, r.text
    assert stack.sql('SELECT "content" FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["content"] == body


def test_webhook__too_many_form_fields_is_400_with_a_code(stack):
    fields = "&".join(f"f{i}=x" for i in range(1001))
    r = httpx.post(f"{stack.api_url}/webhooks/twilio/status", content=fields,
                   headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "AAAA"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_form"
