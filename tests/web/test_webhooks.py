"""The Twilio webhooks' request checks, as one table of cases for both routes (in the manner of
nyaruka/courier's handlers/twiml/handlers_test.go): a valid signature, an invalid one, a missing
one, a replay (the same event twice is stored once, and a signature is good only for the URL it
was made for), and a proxy in front (PUBLIC_BASE_URL is not the address the request arrives on).
Then the form decoding and limits the signature check depends on."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from twilio.request_validator import RequestValidator

STATUS, INBOUND = "/webhooks/twilio/status?messageId={id}", "/webhooks/twilio/inbound"
PUBLIC, EVIL = "https://sms.example.com", "https://evil.example"
PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com"}
NUMBER, PHONE, TO = "+15017122661", "+14155550123", "+14155552671"
# Characters that percent-encoding, '+' for space and form separators all touch: the handler
# must hand the signature check exactly the text Twilio signed.
BODY = "Café + 100% ✓ a&b=c;d"


@dataclass(frozen=True)
class Case:
    label: str
    event: str                                  # "status" or "inbound": which parameters are sent
    path: str                                   # where they are posted ({id}: the message's id)
    signature: str = "valid"                    # "valid", "missing", "tampered" or the header's literal value
    signed_for: str | None = None               # the path the signature was made for (default: `path`)
    signed_base: str = "arrival"                # "arrival" (the API's own address), "public" or "evil"
    public_base_url: str | None = None          # set: a proxy in front, requests arrive elsewhere
    forwarded: dict[str, str] = field(default_factory=dict)
    body: str = BODY
    encoding: str = "urlencoded"
    posts: int = 1
    status: int = 200
    stored: int = 1                             # events ("status") or inbound rows ("inbound") stored

    @property
    def refused(self) -> bool:
        return self.status == 403


def refused(label: str, event: str, path: str, **kwargs) -> Case:
    return Case(label, event, path, status=403, stored=0, **kwargs)


CASES = [
    Case("status: valid", "status", STATUS),
    Case("status: valid, multipart", "status", STATUS, encoding="multipart"),
    refused("status: missing signature", "status", STATUS, signature="missing"),
    refused("status: invalid signature", "status", STATUS, signature="bm9wZQ=="),
    refused("status: invalid signature, parameters changed after signing", "status", STATUS, signature="tampered"),
    Case("status: replay, the same event twice is stored once", "status", STATUS, posts=2),
    refused("status: replay to the inbound route", "status", INBOUND, signed_for=STATUS),
    refused("status: replay for another message", "status", "/webhooks/twilio/status?messageId=msg_other",
            signed_for=STATUS),
    refused("status: replay without the message id", "status", "/webhooks/twilio/status", signed_for=STATUS),
    Case("status: proxy, signed for PUBLIC_BASE_URL", "status", STATUS, signed_base="public",
         public_base_url=PUBLIC, forwarded=PROXIED),
    refused("status: proxy, signed for the address it arrived on", "status", STATUS, public_base_url=PUBLIC,
            forwarded=PROXIED),
    # A client cannot pick the URL we check against by sending forwarded headers.
    refused("status: proxy, forwarded headers name another host", "status", STATUS, signed_base="evil",
            public_base_url=PUBLIC, forwarded={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}),

    Case("inbound: valid", "inbound", INBOUND),
    Case("inbound: valid, multipart", "inbound", INBOUND, encoding="multipart"),
    # An unsigned STOP must opt nobody out.
    refused("inbound: missing signature", "inbound", INBOUND, signature="missing", body="STOP"),
    refused("inbound: invalid signature", "inbound", INBOUND, signature="AAAA"),
    refused("inbound: invalid signature on a STOP", "inbound", INBOUND, signature="Zm9yZ2Vk", body="STOP"),
    refused("inbound: invalid signature, parameters changed after signing", "inbound", INBOUND,
            signature="tampered"),
    Case("inbound: replay, the same message twice is stored once", "inbound", INBOUND, posts=2),
    refused("inbound: replay to the status route", "inbound", STATUS, signed_for=INBOUND),
    Case("inbound: proxy, signed for PUBLIC_BASE_URL", "inbound", INBOUND, signed_base="public",
         public_base_url=PUBLIC, forwarded=PROXIED),
    refused("inbound: proxy, signed for the address it arrived on", "inbound", INBOUND, public_base_url=PUBLIC,
            forwarded=PROXIED),
    refused("inbound: proxy, forwarded headers name another host", "inbound", INBOUND, signed_base="evil",
            public_base_url=PUBLIC, forwarded={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}),
]


def _params(stack, case: Case) -> dict[str, str]:
    account = stack.settings.twilio_account_sid
    if case.event == "status":
        sid = "SM" + "d" * 32
        return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered",
                "AccountSid": account, "ApiVersion": "2010-04-01"}
    return {"From": PHONE, "To": NUMBER, "Body": case.body, "MessageSid": "SM" + "e" * 32, "AccountSid": account}


def _tampered(case: Case, params: dict[str, str]) -> dict[str, str]:
    return dict(params, MessageStatus="failed") if case.event == "status" else dict(params, Body="STOP")


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_webhook_request__signature_decides_and_an_event_is_stored_once(make_stack, case):
    # A public URL needs a real token: the default one is refused there (anyone can read it).
    overrides = ({"public_base_url": case.public_base_url, "twilio_auth_token": "proxy-test-token"}
                 if case.public_base_url else {})
    stack = make_stack(settings_overrides=overrides, start_worker=False)
    org = stack.create_org(numbers=(NUMBER,))
    message_id = "msg_none"
    if case.event == "status":
        with stack.client(org["apiKey"]) as api:
            message_id = api.post("/v1/messages", json={"to": TO, "body": "hi"}).json()["id"]
    path = case.path.format(id=message_id)
    base = {"arrival": stack.api_url, "public": PUBLIC, "evil": EVIL}[case.signed_base]
    signed_url = base + (case.signed_for or case.path).format(id=message_id)
    params = _params(stack, case)
    headers = dict(case.forwarded)
    if case.signature != "missing":
        good = RequestValidator(stack.settings.twilio_auth_token).compute_signature(signed_url, params)
        headers["X-Twilio-Signature"] = good if case.signature in ("valid", "tampered") else case.signature
    sent = _tampered(case, params) if case.signature == "tampered" else params
    pool = stack.api.server.config.app.state.runtime.pool
    taken_before = pool.get_stats().get("requests_num", 0)

    with stack.client() as http:
        for _ in range(case.posts):
            if case.encoding == "urlencoded":
                r = http.post(path, data=sent, headers=headers)
            else:
                r = http.post(path, files={k: (None, v) for k, v in sent.items()}, headers=headers)
            assert r.status_code == case.status, r.text
            if case.refused:
                assert r.json()["error"]["code"] == "invalid_signature" and r.json()["error"]["message"]
            elif case.event == "inbound":
                assert "<Response" in r.text

    if case.refused:
        # The signature is checked before the handler asks the pool for a connection.
        assert pool.get_stats().get("requests_num", 0) == taken_before
    events = stack.sql('SELECT "status" FROM "MessageEvent"')
    inbound = stack.sql('SELECT "content", "orgId", "status" FROM "MessageLog" WHERE "direction" = \'inbound\'')
    opt_outs = stack.sql('SELECT 1 FROM "OptOut" WHERE "orgId" = %s AND "phone" = %s', (org["id"], PHONE))
    if case.event == "status":
        assert len(events) == case.stored and inbound == []
        assert stack.message(message_id)["status"] == ("delivered" if case.stored else "queued")
    else:
        assert len(inbound) == case.stored and events == []
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == case.stored
        if case.stored:
            assert inbound[0]["content"] == case.body and inbound[0]["orgId"] == org["id"]
    if case.refused:
        assert opt_outs == []


def _sign(stack, url, params):
    return RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)


def _status_params(stack, sid="SM" + "d" * 32, status="delivered"):
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": stack.settings.twilio_account_sid, "ApiVersion": "2010-04-01"}


def test_webhook_signature__unsigned_requests_never_take_a_database_connection(stack):
    # A flood of forged webhooks must not occupy the API's pool: the signature is checked first.
    pool = stack.api.server.config.app.state.runtime.pool
    params = _status_params(stack)
    taken_before = pool.get_stats().get("requests_num", 0)
    with httpx.Client() as http:
        for path in ("/webhooks/twilio/status?messageId=msg_x", "/webhooks/twilio/inbound"):
            for _ in range(5):
                r = http.post(stack.api_url + path, data=params, headers={"X-Twilio-Signature": "AAAA"})
                assert r.status_code == 403
        signed = "/webhooks/twilio/status?messageId=msg_x"
        ok = http.post(stack.api_url + signed, data=params,
                       headers={"X-Twilio-Signature": _sign(stack, stack.api_url + signed, params)})
    assert ok.status_code == 200
    # Only the signed one asked the pool for a connection.
    assert pool.get_stats().get("requests_num", 0) - taken_before == 1


def test_webhook__too_many_form_fields_is_400_with_a_code(stack):
    fields = "&".join(f"f{i}=x" for i in range(1001))
    r = httpx.post(f"{stack.api_url}/webhooks/twilio/status", content=fields,
                   headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "AAAA"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_form"
