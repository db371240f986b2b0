"""The simulator prices messages as Twilio does (per destination and segment, shown once final)
and serves the Pricing API and Usage Records through the official SDK's own URLs."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from tests.support.sim_numbers import LONG, TO_US
from tests.support.waiting import wait_until

TO_GB = "+447400123456"


def test_price_is_per_destination_and_segment_and_appears_once_final(twilio, sim):
    us = twilio.messages.create(to=TO_US, from_=LONG, body="a" * 161)  # 2 segments
    gb = twilio.messages.create(to=TO_GB, from_=LONG, body="hello")
    assert us.price is None, "Twilio shows no price on the create's answer"
    for sid in (us.sid, gb.sid):
        sim.wait_for_status(sid, {"delivered"})
    wait_until(lambda: twilio.messages(us.sid).fetch().price is not None, timeout=5)
    assert twilio.messages(us.sid).fetch().price == "-0.01580"
    fetched = twilio.messages(gb.sid).fetch()
    assert (fetched.price, fetched.price_unit) == ("-0.04000", "USD")
    assert sim.message(gb.sid)["price"] == "-0.04000"


def test_pricing_api_country_through_the_sdk(twilio):
    gb = twilio.pricing.v1.messaging.countries("GB").fetch()
    assert gb.iso_country == "GB" and gb.price_unit == "USD"
    assert {p["current_price"] for c in gb.outbound_sms_prices for p in c["prices"]} == {"0.04000"}
    isos = [c.iso_country for c in twilio.pricing.v1.messaging.countries.list(page_size=5)]
    assert "UZ" in isos and len(isos) == len(set(isos)) > 5


def test_usage_records_daily_sum_the_ledger(twilio, sim):
    sids = [twilio.messages.create(to=to, from_=LONG, body="usage").sid for to in (TO_US, TO_GB, TO_GB)]
    for sid in sids:
        sim.wait_for_status(sid, {"delivered"})
    today = datetime.now(timezone.utc).date()
    records = twilio.usage.records.daily.list(category="sms-outbound", start_date=today, end_date=today)
    assert len(records) == 1
    ledger_total = sum(-Decimal(m["price"]) for m in sim.ledger(direction="outbound"))
    assert Decimal(str(records[0].price)) == ledger_total == Decimal("0.08790")
    assert (records[0].count, records[0].usage) == ("3", "3")


def test_usage_records_refuse_a_bad_date(rest):
    resp = rest.get("/Usage/Records/Daily.json", params={"StartDate": "yesterday"})
    assert resp.status_code == 400 and resp.json()["code"] == 20001
