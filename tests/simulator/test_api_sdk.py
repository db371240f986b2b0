"""The official twilio SDK (sync and async) talks to the simulator unchanged but for http_client."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.support.simulator import AsyncSimHttpClient, SimHttpClient
from tests.support.sim_numbers import LONG, LONG2, TOLL, TO_US, TO_US2
from tests.support.waiting import wait_until

SID = re.compile(r"^SM[0-9a-f]{32}$")


def test_create_returns_a_queued_message_resource(twilio, sim):
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="hello world")
    assert SID.match(msg.sid)
    assert msg.status == "queued"
    assert msg.num_segments == "1"
    assert msg.direction == "outbound-api"
    assert msg.to == TO_US and msg.from_ == LONG and msg.body == "hello world"
    assert msg.account_sid == twilio.account_sid
    assert isinstance(msg.date_created, datetime) and msg.date_created.tzinfo is not None
    assert msg.date_sent is None and msg.error_code is None
    assert msg.uri.endswith(f"/Messages/{msg.sid}.json")


def test_num_segments_follow_the_encoding(twilio):
    long_gsm = twilio.messages.create(to=TO_US, from_=LONG, body="a" * 161)
    ucs2 = twilio.messages.create(to=TO_US, from_=LONG, body="héllo ✓" * 10)  # 70 UCS-2 chars
    assert long_gsm.num_segments == "2"
    assert ucs2.num_segments == "1"
    ucs2_long = twilio.messages.create(to=TO_US, from_=LONG, body="✓" * 71)
    assert ucs2_long.num_segments == "2"


def test_fetch_reaches_delivered_with_date_sent_and_price(twilio, sim):
    sid = twilio.messages.create(to=TO_US, from_=LONG, body="fetch me").sid
    sim.wait_for_status(sid, {"delivered"})
    msg = twilio.messages(sid).fetch()
    assert msg.status == "delivered"
    assert isinstance(msg.date_sent, datetime)
    assert msg.date_sent >= msg.date_created - timedelta(seconds=1)
    assert msg.price is not None and float(msg.price) < 0 and msg.price_unit == "USD"


def test_messaging_service_create_is_accepted_then_gets_a_sender(twilio, sim):
    mg = "MG" + "a" * 32
    msg = twilio.messages.create(to=TO_US, messaging_service_sid=mg, body="via service")
    assert msg.status == "accepted"
    assert msg.from_ is None and msg.num_segments == "0"
    assert msg.messaging_service_sid == mg
    sim.wait_for_status(msg.sid, {"delivered"})
    fetched = twilio.messages(msg.sid).fetch()
    assert fetched.from_ and fetched.num_segments == "1"


def test_list_filters_and_paging(twilio, sim):
    sids = [twilio.messages.create(to=TO_US if i % 2 else TO_US2, from_=LONG, body=f"m{i}").sid
            for i in range(7)]
    sim.wait_for(lambda rows: all(r["status"] == "delivered" for r in rows) and len(rows) == 7)
    to_us = twilio.messages.list(to=TO_US, page_size=2)
    assert {m.sid for m in to_us} == {s for i, s in enumerate(sids) if i % 2}
    everything = list(twilio.messages.stream(page_size=3))
    assert [m.sid for m in everything] == list(reversed(sids))  # newest first, across 3 pages
    page = twilio.messages.page(page_size=3)
    assert len(list(page)) == 3 and page.next_page_url and "PageToken" in page.next_page_url
    assert twilio.messages.list(from_=LONG2) == []
    today = datetime.now(timezone.utc)
    assert len(twilio.messages.list(date_sent_after=today - timedelta(minutes=5))) == 7
    assert twilio.messages.list(date_sent_before=today - timedelta(days=2)) == []
    assert len(twilio.messages.list(date_sent=today.replace(hour=0, minute=0, second=0))) == 7


def test_account_balance_and_numbers(twilio, sim, receiver):
    account = twilio.api.v2010.accounts(twilio.account_sid).fetch()
    assert account.status == "active" and account.sid == twilio.account_sid
    balance = twilio.api.v2010.account.balance.fetch()
    assert float(balance.balance) > 0 and balance.currency == "USD"

    created = twilio.incoming_phone_numbers.create(phone_number=TOLL, sms_url=receiver.url("/inbound"))
    assert created.sid.startswith("PN") and len(created.sid) == 34
    twilio.messages.create(to=TO_US, from_=LONG, body="auto-registers the sender")
    numbers = {n.phone_number: n for n in twilio.incoming_phone_numbers.list()}
    assert set(numbers) == {TOLL, LONG}
    assert numbers[LONG].capabilities["sms"] is True and numbers[LONG].status == "in-use"
    only = twilio.incoming_phone_numbers.list(phone_number=TOLL)
    assert [n.sid for n in only] == [created.sid]
    fetched = twilio.incoming_phone_numbers(created.sid).fetch()
    assert fetched.sms_url == receiver.url("/inbound") and fetched.phone_number == TOLL


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (dict(from_=LONG, body="x"), 400, 21604),
        (dict(to=TO_US, from_=LONG), 400, 21602),
        (dict(to="+1555", from_=LONG, body="x"), 400, 21211),
        (dict(to=TO_US, body="x"), 400, 21603),
        (dict(to=TO_US, from_=LONG, body="x" * 1601), 400, 21617),
        (dict(to=TO_US, from_=LONG, body="x", validity_period=36001), 400, 21624),
        (dict(to=TO_US, from_=LONG, body="x", validity_period="soon"), 400, 21624),
        (dict(to=TO_US, from_=LONG, body="x", media_url=[f"https://cdn.example.com/{i}.jpg" for i in range(11)]),
         400, 21623),
    ],
)
def test_validation_errors_raise_twilio_rest_exception(twilio, kwargs, status, code):
    kwargs = {"to": values.unset, **kwargs}  # the SDK drops unset parameters from the form
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages.create(**kwargs)
    assert exc.value.status == status and exc.value.code == code
    assert exc.value.msg
    if code in (21623, 21624):  # Twilio's own wording (its error dictionary)
        assert exc.value.msg.endswith({21623: "Number of media files exceeds allowed limit",
                                       21624: "Invalid validity period value"}[code])


def test_bad_credentials_get_401_20003(sim, sim_server, settings):
    client = Client(settings.twilio_account_sid, "wrong-token", http_client=SimHttpClient(sim_server))
    with pytest.raises(TwilioRestException) as exc:
        client.messages.create(to=TO_US, from_=LONG, body="x")
    assert exc.value.status == 401 and exc.value.code == 20003
    assert sim.ledger() == []


def test_unknown_message_is_404_20404(twilio):
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages("SM" + "0" * 32).fetch()
    assert exc.value.status == 404 and exc.value.code == 20404


async def test_async_client_creates_and_fetches(sim, sim_server, settings):
    http = AsyncSimHttpClient(sim_server)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    try:
        msg = await client.messages.create_async(to=TO_US, from_=LONG, body="async hello")
        assert SID.match(msg.sid) and msg.status == "queued"
        fetched = await client.messages(msg.sid).fetch_async()
        assert fetched.sid == msg.sid and fetched.body == "async hello"
        listed = await client.messages.list_async(to=TO_US)
        assert [m.sid for m in listed] == [msg.sid]
        with pytest.raises(TwilioRestException) as exc:
            await client.messages.create_async(to=TO_US, from_=LONG)
        assert exc.value.code == 21602
    finally:
        await http.close()


def test_reset_forgets_the_ledger(twilio, sim):
    # Sids are never reissued, whatever the seed (tests/simulator/test_sim_sids.py).
    for i in range(3):
        twilio.messages.create(to=TO_US, from_=LONG, body=str(i))
    sim.reset()
    for i in range(3):
        twilio.messages.create(to=TO_US, from_=LONG, body=str(i))
    wait_until(lambda: len(sim.ledger()) == 3)
