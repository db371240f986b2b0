"""Per-sender speed, queue overflow (21611 / 30001) and the API concurrency limit (429 / 20429)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from twilio.base.exceptions import TwilioRestException

from tests.support.waiting import wait_until

from tests.support.sim_numbers import LONG, LONG2, TOLL, TO_US


def _rate(rows: list[dict]) -> float:
    sent = sorted(r["sent_ts"] for r in rows)
    return (len(sent) - 1) / (sent[-1] - sent[0])


def test_per_sender_speed_holds_within_10_percent_over_20s(sim, rest):
    # Realistic speeds; ~20 s of backlog for each sender, drained in parallel.
    sim.configure(speed_long_code=1, speed_toll_free=3, callback_latency_ms=0)
    for i in range(21):
        assert rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": f"l{i}"}).status_code == 201
    for i in range(61):
        assert rest.post("/Messages.json", data={"To": TO_US, "From": TOLL, "Body": f"t{i}"}).status_code == 201
    # a second long code is not slowed down by the first one's queue
    assert rest.post("/Messages.json", data={"To": TO_US, "From": LONG2, "Body": "x"}).status_code == 201
    rows = sim.wait_for(lambda r: all(m["sent_ts"] for m in r), timeout=30)
    long_rows = [r for r in rows if r["from"] == LONG]
    toll_rows = [r for r in rows if r["from"] == TOLL]
    assert _rate(long_rows) == pytest.approx(1.0, rel=0.10)
    assert _rate(toll_rows) == pytest.approx(3.0, rel=0.10)
    other = next(r for r in rows if r["from"] == LONG2)
    assert other["sent_ts"] - other["created_ts"] < 1.0
    # queue order is kept
    assert [r["body"] for r in sorted(long_rows, key=lambda r: r["sent_ts"])] == [f"l{i}" for i in range(21)]


def test_segments_count_against_the_speed(sim, rest):
    sim.configure(speed_long_code=10, callback_latency_ms=0)
    for i in range(6):  # 3 segments each: 18 segments at 10/s -> one message every 0.3 s
        rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": "x" * 400})
    rows = sim.wait_for(lambda r: len(r) == 6 and all(m["sent_ts"] for m in r), timeout=10)
    assert all(r["num_segments"] == 3 for r in rows)
    assert _rate(rows) == pytest.approx(10 / 3, rel=0.15)


def test_queue_overflow_gives_21611_at_create(sim, twilio):
    sim.configure(speed_long_code=1, queue_max_seconds=3)
    accepted, rejected = [], []
    for i in range(8):
        try:
            accepted.append(twilio.messages.create(to=TO_US, from_=LONG, body=str(i)).sid)
        except TwilioRestException as exc:
            rejected.append((exc.status, exc.code))
    assert 3 <= len(accepted) <= 5
    assert rejected and set(rejected) == {(400, 21611)}
    # another sender still has room
    assert twilio.messages.create(to=TO_US, from_=LONG2, body="fine").status == "queued"


def test_messages_outliving_their_validity_fail_with_30001(sim, twilio, receiver):
    sim.configure(speed_long_code=2)
    sids = [twilio.messages.create(to=TO_US, from_=LONG, body=str(i), validity_period=1,
                                   status_callback=receiver.url("/status")).sid for i in range(5)]
    rows = sim.wait_for(lambda r: all(m["status"] in ("delivered", "failed") for m in r), timeout=10)
    by_sid = {r["sid"]: r for r in rows}
    assert by_sid[sids[0]]["status"] == "delivered"
    assert (by_sid[sids[-1]]["status"], by_sid[sids[-1]]["error_code"]) == ("failed", 30001)
    # The ledger shows the status as soon as it is set; its callback is posted after that.
    failed_cb = wait_until(lambda: receiver.for_sid(sids[-1]), timeout=10, what="the failed message's callback")
    assert [(h.params["MessageStatus"], h.params["ErrorCode"]) for h in failed_cb] == [("failed", "30001")]


def test_too_many_concurrent_creates_get_429_20429(sim, rest):
    sim.configure(max_concurrency=2, api_latency="fixed:300")

    def create(i):
        r = rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": str(i)})
        return r.status_code, r.json().get("code")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    assert results.count((429, 20429)) >= 1
    assert 1 <= sum(1 for s, _ in results if s == 201) <= 6
    assert {r for r in results if r[0] != 201} <= {(429, 20429)}
    assert len(sim.ledger()) == sum(1 for s, _ in results if s == 201)


def test_random_429_and_5xx_rates(sim, rest):
    sim.configure(random_429_rate=0.5)
    codes = [rest.get("/Balance.json").status_code for _ in range(40)]
    assert 5 <= codes.count(429) <= 35 and codes.count(200) >= 5
    sim.configure(random_429_rate=0, random_5xx_rate=1)
    assert rest.get("/Balance.json").json()["code"] == 20500
