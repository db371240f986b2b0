"""One row per scenario: the affected traffic gets Twilio's error, the rest is untouched."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from smsrelay.simulator.scenarios import ScenarioBook
from tests.support.sim_numbers import LONG, LONG2, TOLL, TO_FR, TO_US, TO_US2
from tests.support.waiting import wait_until


@dataclass
class Case:
    name: str
    scenario: dict
    hit: dict  # traffic the scenario targets: to, from_, body
    miss: dict  # traffic it must leave alone
    http: tuple[int, int] | None = None  # (HTTP status, code) at create
    callback: tuple[str, int] | None = None  # (final status, ErrorCode) by callback
    extra: dict = field(default_factory=dict)


def traffic(to=TO_US, from_=LONG, body="hello there"):
    return {"to": to, "from_": from_, "body": body}


CASES = [
    Case("account_suspended", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(403, 20403)),
    Case("auth_failure", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(401, 20003)),
    Case("balance_exhausted", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(403, 20403)),
    Case("sender_number_issue", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(400, 21606)),
    Case("sender_number_issue", {"number": LONG, "code": 21612}, traffic(), traffic(from_=LONG2),
         http=(400, 21612)),
    Case("unregistered_10dlc", {}, traffic(), traffic(from_=TOLL), callback=("failed", 30034)),
    Case("toll_free_unverified", {}, traffic(from_=TOLL), traffic(), callback=("failed", 30032)),
    Case("content_filtering", {}, traffic(body="50% off: bit.ly/deal"), traffic(body="see example.com/deal"),
         callback=("undelivered", 30007)),
    Case("carrier_blocking", {"match": "(?i)promo"}, traffic(body="PROMO today"), traffic(),
         callback=("undelivered", 30004)),
    Case("unreachable", {"number": TO_US}, traffic(), traffic(to=TO_US2), callback=("undelivered", 30003)),
    Case("unknown_destination", {"country": "FR"}, traffic(to=TO_FR), traffic(),
         callback=("undelivered", 30005)),
    Case("landline", {"number": TO_US2}, traffic(to=TO_US2), traffic(), callback=("undelivered", 30006)),
    Case("invalid_to", {"number": TO_US}, traffic(), traffic(to=TO_US2), http=(400, 21211)),
    Case("geo_blocked", {"country": "FR"}, traffic(to=TO_FR), traffic(), http=(400, 21408)),
    Case("unknown_error", {"match": "retry-me"}, traffic(body="retry-me"), traffic(),
         callback=("undelivered", 30008)),
    Case("uncatalogued", {"number": LONG}, traffic(), traffic(from_=LONG2), callback=("undelivered", 39999)),
    Case("outage", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(503, 20503)),
    Case("rate_limited", {"number": LONG}, traffic(), traffic(from_=LONG2), http=(429, 20429)),
    Case("queue_overflow", {"number": LONG}, traffic(), traffic(from_=LONG2), callback=("failed", 30001)),
]


def _final(receiver, sid, timeout=5.0):
    finals = {"delivered", "undelivered", "failed"}
    hits = wait_until(lambda: [h for h in receiver.for_sid(sid) if h.params["MessageStatus"] in finals],
                      timeout=timeout)
    return hits[0]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.name}-{c.http or c.callback}" for c in CASES])
def test_scenario_hits_only_its_traffic(case, twilio, sim, receiver):
    sim.set_scenario(case.name, **case.scenario)
    cb = receiver.url("/status")

    if case.http:
        with pytest.raises(TwilioRestException) as exc:
            twilio.messages.create(status_callback=cb, **case.hit)
        assert (exc.value.status, exc.value.code) == case.http
        assert not any(m["to"] == case.hit["to"] and m["from"] == case.hit["from_"]
                       and m["body"] == case.hit["body"] for m in sim.ledger())
    else:
        hit = twilio.messages.create(status_callback=cb, **case.hit)
        assert hit.status == "queued"
        final = _final(receiver, hit.sid)
        status, code = case.callback
        assert final.params["MessageStatus"] == status
        assert final.params["ErrorCode"] == str(code)
        seen = [h.params["MessageStatus"] for h in receiver.for_sid(hit.sid)]
        # Twilio never hands a "failed" message to a carrier: no "sent" before it.
        assert seen == (["failed"] if status == "failed" else ["sent", status])

    miss = twilio.messages.create(status_callback=cb, **case.miss)
    final = _final(receiver, miss.sid)
    assert final.params["MessageStatus"] == "delivered"
    assert "ErrorCode" not in final.params


def test_scenarios_stack_and_clear(twilio, sim, receiver):
    sim.set_scenario("geo_blocked", country="FR")
    sim.set_scenario("content_filtering")
    assert {s["name"] for s in sim.scenarios()} == {"geo_blocked", "content_filtering"}
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages.create(to=TO_FR, from_=LONG, body="hi")
    assert exc.value.code == 21408
    msg = twilio.messages.create(to=TO_US, from_=LONG, body="bit.ly/x", status_callback=receiver.url("/s"))
    assert _final(receiver, msg.sid).params["ErrorCode"] == "30007"
    sim.set_scenario("healthy")  # healthy clears everything
    assert sim.scenarios() == []
    assert twilio.messages.create(to=TO_FR, from_=LONG, body="hi").status == "queued"


def test_scenario_expires(twilio, sim):
    sim.set_scenario("rate_limited", number=LONG, for_seconds=2)
    with pytest.raises(TwilioRestException):
        twilio.messages.create(to=TO_US, from_=LONG, body="hi")
    wait_until(lambda: sim.scenarios() == [], timeout=10)
    assert twilio.messages.create(to=TO_US, from_=LONG, body="hi").status == "queued"


def test_rate_affects_a_seeded_fraction(twilio, sim):
    sim.set_scenario("invalid_to", rate=0.3)
    outcomes = []
    for i in range(100):
        try:
            twilio.messages.create(to=TO_US, from_=LONG, body=str(i))
            outcomes.append(True)
        except TwilioRestException as exc:
            assert exc.code == 21211
            outcomes.append(False)
    assert 15 <= outcomes.count(False) <= 45
    sim.reset()
    sim.set_scenario("invalid_to", rate=0.3)
    again = []
    for i in range(100):
        try:
            twilio.messages.create(to=TO_US, from_=LONG, body=str(i))
            again.append(True)
        except TwilioRestException:
            again.append(False)
    assert again == outcomes  # same seed, same requests, same faults


def test_account_wide_suspension_shows_on_account_and_balance(twilio, sim, receiver):
    sim.configure(speed_long_code=2)
    queued = [twilio.messages.create(to=TO_US, from_=LONG, body=str(i), status_callback=receiver.url("/s"))
              for i in range(4)]
    sim.set_scenario("balance_exhausted")
    assert twilio.api.v2010.accounts(twilio.account_sid).fetch().status == "suspended"
    assert float(twilio.api.v2010.account.balance.fetch().balance) <= 0
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages.create(to=TO_US, from_=LONG, body="more")
    assert (exc.value.status, exc.value.code) == (403, 20403)
    # messages still in the queue when the account was suspended fail with 30002
    last = _final(receiver, queued[-1].sid)
    assert (last.params["MessageStatus"], last.params["ErrorCode"]) == ("failed", "30002")


def test_untargeted_auth_failure_and_outage_hit_every_request(twilio, sim, rest):
    sim.set_scenario("auth_failure")
    with pytest.raises(TwilioRestException) as exc:
        twilio.api.v2010.account.balance.fetch()
    assert (exc.value.status, exc.value.code) == (401, 20003)
    sim.clear_scenarios()
    sim.set_scenario("outage")
    outcomes = []
    for _ in range(8):
        try:
            outcomes.append(rest.get("/Balance.json", timeout=0.5).status_code)
        except httpx.TimeoutException:
            outcomes.append("timeout")
    assert "timeout" in outcomes  # connections hang...
    assert {o for o in outcomes if o != "timeout"} <= {500, 503} and len(set(outcomes)) >= 2  # ...or 5xx
    with pytest.raises(TwilioRestException) as exc:
        twilio.messages.create(to=TO_US, from_=LONG, body="during outage")
    assert exc.value.status >= 500
    sim.clear_scenarios()
    assert rest.get("/Balance.json").status_code == 200


def test_sender_number_issue_shows_on_the_number(twilio, sim):
    twilio.messages.create(to=TO_US, from_=LONG, body="registers LONG")
    sim.set_scenario("sender_number_issue", number=LONG)
    number = twilio.incoming_phone_numbers.list(phone_number=LONG)[0]
    assert number.status != "in-use" and number.capabilities["sms"] is False
    sim.clear_scenarios()
    assert twilio.incoming_phone_numbers.list(phone_number=LONG)[0].status == "in-use"


def _created(twilio, from_: str, n: int, start: int = 0) -> list[bool | int]:
    out: list[bool | int] = []
    for i in range(start, start + n):
        try:
            twilio.messages.create(to=TO_US, from_=from_, body=f"burst {i}")
            out.append(True)
        except TwilioRestException as exc:
            assert exc.status == 429
            out.append(exc.code)
    return out


def test_rate_exceeded_refuses_only_while_the_sender_is_over_its_rate(twilio, sim):
    scenario = sim.set_scenario("rate_exceeded", number=LONG, limit=3)
    assert (scenario["limit"], scenario["per_seconds"], scenario["refused"]) == (3, 60.0, 0)
    # A burst: the first `limit` go through, the rest are refused; another sender is untouched.
    assert _created(twilio, LONG, 5) == [True, True, True, 20429, 20429]
    assert _created(twilio, LONG2, 5) == [True] * 5
    [active] = sim.scenarios()
    assert active["refused"] == 2 and active["last_refused_at"] is not None


def test_rate_exceeded_counts_what_was_accepted_within_its_window():
    book = ScenarioBook()
    s = book.add("rate_exceeded", number=LONG, limit=2, per_seconds=10)
    s.accepted(LONG, 100.0)
    s.accepted(LONG, 101.0)
    assert s.over_rate(LONG, 105.0) and not s.over_rate(LONG2, 105.0)
    # Slowed down: once the first has left the window the sender gets through again, with the
    # scenario still active (what throttling must achieve).
    assert not s.over_rate(LONG, 110.0)
    s.accepted(LONG, 110.0)
    assert s.over_rate(LONG, 110.5) and not s.over_rate(LONG, 121.0)


def test_rate_exceeded_needs_a_limit_and_takes_14107(twilio, sim):
    with pytest.raises(RuntimeError, match="needs a limit"):
        sim.set_scenario("rate_exceeded", number=LONG)
    with pytest.raises(RuntimeError, match="rate scenarios only"):
        sim.set_scenario("rate_limited", number=LONG, limit=3)
    sim.set_scenario("rate_exceeded", number=LONG, limit=1, code=14107)
    assert _created(twilio, LONG, 2) == [True, 14107]


def test_one_scenario_can_be_removed_and_the_others_stay(twilio, sim):
    geo = sim.set_scenario("geo_blocked", country="FR")
    sim.set_scenario("rate_exceeded", number=LONG, limit=1)
    sim.remove_scenario(geo["id"])
    assert [s["name"] for s in sim.scenarios()] == ["rate_exceeded"]
    assert twilio.messages.create(to=TO_FR, from_=LONG2, body="hi").status == "queued"
    with pytest.raises(RuntimeError, match="404"):
        sim.remove_scenario(geo["id"])


def test_uncatalogued_uses_a_code_the_catalogue_does_not_know():
    from smsrelay.domain import catalogue
    from smsrelay.simulator.scenarios import CATALOGUE

    assert catalogue.lookup(CATALOGUE["uncatalogued"].code) is None
