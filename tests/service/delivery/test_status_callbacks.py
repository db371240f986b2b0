"""Status callbacks applied: duplicates and out-of-order events end delivered with each event
stored once; a callback that arrives before the worker commits the sid still applies."""

from __future__ import annotations

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.support.waiting import wait_until

TO = "+14155552671"


def _send(stack, key, **body):
    with stack.client(key) as api:
        return api.post("/v1/messages", json={"to": TO, "body": "hello", **body})


@pytest.mark.parametrize("mode", ["duplicate", "out_of_order"])
def test_duplicate_and_out_of_order_callbacks__end_delivered_with_each_event_once(make_stack, mode):
    stack = make_stack(sim_overrides={"callback_mode": mode})
    org = stack.create_org()
    msg = _send(stack, org["apiKey"]).json()
    row = stack.wait_status(msg["id"], "delivered")

    def stored() -> list[str]:
        return sorted(e["status"] for e in stack.sql(
            'SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s', (msg["id"],)))

    # Out of order, "sent" arrives after "delivered": wait for it, then check it changed nothing.
    wait_until(lambda: stored() == ["delivered", "sent"], timeout=15, what="both events stored")
    events = stack.sql('SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s ORDER BY "id"', (msg["id"],))
    assert sorted(e["status"] for e in events) == ["delivered", "sent"]
    assert stack.message(msg["id"])["status"] == "delivered"
    assert row["finalAt"] is not None


def test_callback_before_worker_commit__is_still_applied(stack):
    """Twilio can call back before the worker has committed the sid."""
    org = stack.create_org()
    stack.stop_workers()
    msg = _send(stack, org["apiKey"]).json()
    sid = "SM" + "b" * 32
    url = f"{stack.api_url}/webhooks/twilio/status?messageId={msg['id']}"
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered",
              "AccountSid": stack.settings.twilio_account_sid, "To": TO, "From": "+15017122661",
              "ApiVersion": "2010-04-01"}
    sig = RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": sig}).status_code == 200
    row = stack.message(msg["id"])
    assert row["status"] == "delivered" and row["twilioSid"] == sid
