"""Twilio signs an inbound webhook as URL + every key and value run together, sorted by key.
A captured request can therefore be re-split (the MessageSid folded into another value) and
still verify; without a sid it was stored again, and a replayed STOP undid the user's START."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

ORG_NUMBER, USER = "+15017122661", "+14155550123"


def _params(stack, body: str, sid: str) -> dict[str, str]:
    # What Twilio sends for an SMS (the simulator sends the same).
    return {"AccountSid": stack.settings.twilio_account_sid, "ApiVersion": "2010-04-01", "Body": body,
            "From": USER, "FromCity": "", "FromCountry": "US", "FromState": "", "FromZip": "",
            "MessageSid": sid, "NumMedia": "0", "NumSegments": "1", "SmsMessageSid": sid, "SmsSid": sid,
            "SmsStatus": "received", "To": ORG_NUMBER, "ToCity": "", "ToCountry": "US", "ToState": "", "ToZip": ""}


def _url(stack) -> str:
    return f"{stack.api_url}/webhooks/twilio/inbound"


def _sign(stack, params: dict[str, str]) -> str:
    return RequestValidator(stack.settings.twilio_auth_token).compute_signature(_url(stack), params)


def _post(stack, params: dict[str, str], signature: str) -> httpx.Response:
    return httpx.post(_url(stack), data=params, headers={"X-Twilio-Signature": signature})


def _opted_out(stack, org_id: str) -> bool:
    return bool(stack.sql('SELECT 1 FROM "OptOut" WHERE "orgId" = %s AND "phone" = %s', (org_id, USER)))


def _resplit(params: dict[str, str]) -> dict[str, str]:
    """Fold every key from MessageSid to SmsStatus (and its value) into FromZip's value: the
    concatenation the signature covers is unchanged, the sids are gone."""
    keys = sorted(params)
    start, end = keys.index("MessageSid"), keys.index("SmsStatus")
    folded = "".join(k + params[k] for k in keys[start:end + 1])
    resplit = {k: v for k, v in params.items() if k not in keys[start:end + 1]}
    resplit["FromZip"] = params["FromZip"] + folded
    return resplit


def test_resplit_replay__without_its_sid_is_refused_and_cannot_undo_a_start(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org(numbers=(ORG_NUMBER,))
    stop = _params(stack, "STOP", "SM" + "1" * 32)
    captured = _sign(stack, stop)
    assert _post(stack, stop, captured).status_code == 200
    assert _opted_out(stack, org["id"])
    start = _params(stack, "START", "SM" + "2" * 32)
    assert _post(stack, start, _sign(stack, start)).status_code == 200
    assert not _opted_out(stack, org["id"])

    attack = _resplit(stop)
    assert "MessageSid" not in attack and RequestValidator(stack.settings.twilio_auth_token).validate(
        _url(stack), attack, captured), "the re-split form verifies with the captured signature"
    r = _post(stack, attack, captured)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "missing_message_sid"
    assert not _opted_out(stack, org["id"]), "a replayed STOP undid the user's START"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["n"] == 2


def test_plain_replay__is_a_duplicate_and_changes_nothing(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org(numbers=(ORG_NUMBER,))
    stop = _params(stack, "STOP", "SM" + "3" * 32)
    captured = _sign(stack, stop)
    assert _post(stack, stop, captured).status_code == 200
    start = _params(stack, "START", "SM" + "4" * 32)
    assert _post(stack, start, _sign(stack, start)).status_code == 200
    assert _post(stack, stop, captured).status_code == 200  # Twilio retries get 200 too
    assert not _opted_out(stack, org["id"])
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["n"] == 2


@pytest.mark.parametrize("change, code", [
    ({"MessageSid": None}, "missing_message_sid"),
    ({"MessageSid": ""}, "missing_message_sid"),
    ({"MessageSid": "SM123"}, "invalid_message_sid"),
    ({"MessageSid": "SM" + "a" * 32 + "NumMedia0"}, "invalid_message_sid"),
    ({"SmsSid": "SM" + "b" * 32}, "invalid_message_sid"),   # its aliases must agree
])
def test_inbound__sid_missing_or_malformed_is_400_and_stores_nothing(make_stack, change, code):
    stack = make_stack(start_worker=False)
    org = stack.create_org(numbers=(ORG_NUMBER,))
    params = _params(stack, "STOP", "SM" + "a" * 32)
    for key, value in change.items():
        if value is None:
            params.pop(key)
        else:
            params[key] = value
    r = _post(stack, params, _sign(stack, params))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
    assert not _opted_out(stack, org["id"])
