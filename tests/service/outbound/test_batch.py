"""POST /v1/messages:batch against real PostgreSQL, the worker and the simulator: every accepted
message's row and job commit together, refused ones are reported by index and stored nowhere,
and nothing is sent twice."""

from __future__ import annotations

import threading
from collections import Counter

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until

SENDER = "+15017122661"


def _to(i: int) -> str:
    return f"+1415{2000000 + i:07d}"


def _batch(n: int, start: int = 0, tag: str = "m") -> list[dict]:
    return [{"to": _to(start + i), "body": f"Your order {tag}-{start + i} has shipped. Reply STOP to opt out."}
            for i in range(n)]


def _counts(stack) -> tuple[int, int]:
    rows = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "direction" = \'outbound\'')[0]["n"]
    jobs = stack.sql('SELECT count(*) AS n FROM "SendQueue"')[0]["n"]
    return rows, jobs


def _post(stack, key: str, messages: list[dict], **headers: str):
    with stack.client(key) as api:
        return api.post("/v1/messages:batch", json={"messages": messages}, headers=headers, timeout=60)


def test_batch_of_300__every_row_and_job_committed_then_each_delivered_once(make_stack):
    stack = make_stack(start_worker=False, sim_overrides={"speed_long_code": 1000})
    org = stack.create_org()
    messages = _batch(300)
    r = _post(stack, org["apiKey"], messages)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 300 and out["rejected"] == 0
    assert [x["index"] for x in out["results"]] == list(range(300))
    assert all(x["status"] == "queued" and x["id"].startswith("msg_") and x["from"] == SENDER for x in out["results"])
    assert [x["to"] for x in out["results"]] == [m["to"] for m in messages]

    ids = [x["id"] for x in out["results"]]
    rows = {r["id"]: r for r in stack.sql('SELECT * FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))}
    assert len(rows) == 300
    for m, x in zip(messages, out["results"]):
        row = rows[x["id"]]
        assert (row["orgId"], row["status"], row["to"], row["content"], row["from"]) == \
               (org["id"], "queued", m["to"], m["body"], SENDER)
        assert row["metadata"]["attempts"] == 0 and row["metadata"]["country"] == "US"
    # One "SendQueue" row per message, due now and unclaimed, all in one transaction.
    job_rows = stack.sql('SELECT "messageId" AS id, "orgId", "leaseOwner", "dueAt" <= now() AS due, "claims" '
                         'FROM "SendQueue"')
    assert sorted(j["id"] for j in job_rows) == sorted(ids)
    assert all(j["orgId"] == org["id"] and j["leaseOwner"] is None and j["due"] and j["claims"] == 0
               for j in job_rows)
    created = stack.sql('SELECT count(DISTINCT "createdAt") AS n FROM "MessageLog" WHERE "id" = ANY(%s)', (ids,))
    assert created[0]["n"] == 1, "the rows were not committed by one transaction"

    stack.start_worker(concurrency=20)
    wait_until(lambda: stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "id" = ANY(%s) '
                                 'AND "status" = \'delivered\'', (ids,))[0]["n"] == 300,
               timeout=180, interval=0.5, what="all 300 messages delivered")
    with SimulatorClient(stack.sim.url) as sim:
        ledger = sim.ledger(from_=SENDER)
    assert Counter(m["body"] for m in ledger) == Counter(m["body"] for m in messages)


def test_batch__invalid_items_rejected_by_index_with_their_codes_rest_accepted(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    messages = _batch(6)
    messages[1]["to"] = "not a number"
    messages[3]["body"] = "   "
    messages[4]["from"] = "+15550001111"
    messages[5]["body"] = "x" * 1601
    r = _post(stack, org["apiKey"], messages)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (2, 4)
    results = out["results"]
    assert [x["index"] for x in results] == list(range(6))
    assert results[1]["error"]["code"] == "invalid_to_number" and results[1]["error"]["twilioEquivalent"] == 21211
    assert results[3]["error"]["code"] == "empty_body"
    assert results[4]["error"]["code"] == "invalid_from_number"
    assert results[5]["error"]["code"] == "body_too_long"
    assert all("id" not in results[i] for i in (1, 3, 4, 5))
    stored = {r["to"] for r in stack.sql('SELECT "to" FROM "MessageLog"')}
    assert stored == {messages[0]["to"], messages[2]["to"]}
    assert _counts(stack) == (2, 2)

    # The same refusals a single send answers, codes and all.
    with stack.client(org["apiKey"]) as api:
        single = api.post("/v1/messages", json=messages[1])
    assert single.status_code == 422 and single.json()["error"] == results[1]["error"]


def test_batch__opted_out_recipient_refused_as_a_single_send_is(stack):
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(_to(2), SENDER, "STOP")
    wait_until(lambda: stack.sql('SELECT 1 FROM "OptOut" WHERE "phone" = %s', (_to(2),)), what="the opt-out")
    messages = _batch(4)
    r = _post(stack, org["apiKey"], messages)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["accepted"], out["rejected"]) == (3, 1)
    error = out["results"][2]["error"]
    assert error["code"] == "recipient_opted_out" and error["twilioEquivalent"] == 21610
    with stack.client(org["apiKey"]) as api:
        single = api.post("/v1/messages", json=messages[2])
    assert single.status_code == 422 and single.json()["error"] == error
    assert not stack.sql('SELECT 1 FROM "MessageLog" WHERE "direction" = \'outbound\' AND "to" = %s', (_to(2),))
    assert _counts(stack)[0] == 3


def test_batch__first_message_rule_counts_earlier_messages_of_the_same_batch(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    # Under a "block" content policy, a first message without opt-out words is refused...
    stack.sql('UPDATE "OrgSettings" SET "contentPolicy" = \'block\' WHERE "orgId" = %s', (org["id"],))
    messages = [{"to": _to(1), "body": "Welcome to Acme. Reply STOP to opt out."},
                {"to": _to(1), "body": "Your code is 1234."},   # ...not a second one to the same recipient
                {"to": _to(2), "body": "Your code is 5678."}]   # ...but it is to a new recipient
    out = _post(stack, org["apiKey"], messages).json()
    assert "id" in out["results"][0] and "id" in out["results"][1]
    assert out["results"][2]["error"]["code"] == "content_blocked"
    assert (out["accepted"], out["rejected"]) == (2, 1)


def test_batch__1001_messages_refused_whole_with_batch_too_large_and_nothing_stored(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    r = _post(stack, org["apiKey"], _batch(1001))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "batch_too_large" and r.json()["error"]["maxMessages"] == 1000
    empty = _post(stack, org["apiKey"], [])
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "batch_empty"
    assert _counts(stack) == (0, 0)
    # A full batch of 1,000 goes through in one request (bigger than the single send's body limit).
    full = _post(stack, org["apiKey"], _batch(1000))
    assert full.status_code == 200 and full.json()["accepted"] == 1000
    assert _counts(stack) == (1000, 1000)


def test_batch__idempotency_key_replays_the_answer_and_sends_nothing_twice(stack):
    org = stack.create_org()
    messages = _batch(5)
    messages[3]["to"] = "123"
    first = _post(stack, org["apiKey"], messages, **{"Idempotency-Key": "batch-7"})
    again = _post(stack, org["apiKey"], messages, **{"Idempotency-Key": "batch-7"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["accepted"] == 4
    changed = _post(stack, org["apiKey"], _batch(5, start=100), **{"Idempotency-Key": "batch-7"})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    with stack.client(org["apiKey"]) as api:  # a single send may not reuse a batch's key either
        single = api.post("/v1/messages", json=messages[0], headers={"Idempotency-Key": "batch-7"})
    assert single.status_code == 422 and single.json()["error"]["code"] == "idempotency_key_reused"
    assert _counts(stack)[0] == 4

    # Concurrent retries of one batch: one of them commits, the others replay its answer.
    answers = []

    def post() -> None:
        answers.append(_post(stack, org["apiKey"], _batch(20, start=200), **{"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {200}
    assert len({tuple(x["id"] for x in a.json()["results"]) for a in answers}) == 1
    assert _counts(stack)[0] == 24

    ids = [x["id"] for x in first.json()["results"] if "id" in x]
    wait_until(lambda: all(stack.message(i)["status"] == "delivered" for i in ids), timeout=60,
               what="the first batch delivered")
    with SimulatorClient(stack.sim.url) as sim:
        ledger = sim.ledger(from_=SENDER)
    sent = Counter(m["body"] for m in ledger)
    assert all(sent[m["body"]] == 1 for i, m in enumerate(messages) if i != 3)


def test_batch__disabled_org_messages_accepted_and_held_as_single_sends_are_then_sent_once(stack):
    org = stack.create_org()
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    messages = _batch(10)
    out = _post(stack, org["apiKey"], messages).json()
    with stack.client(org["apiKey"]) as api:
        single = api.post("/v1/messages", json=_batch(1, start=50)[0])
    assert single.status_code == 202 and out["accepted"] == 10
    ids = [x["id"] for x in out["results"]] + [single.json()["id"]]
    wait_until(lambda: all((stack.message(i)["metadata"].get("hold") or {}).get("reason") == "org_disabled"
                           for i in ids), timeout=30, what="the batch's messages held like the single send")
    assert all(stack.message(i)["status"] == "queued" for i in ids)
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.ledger(from_=SENDER) == []
        stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = %s', (org["id"],))
        wait_until(lambda: all(stack.message(i)["status"] == "delivered" for i in ids), timeout=60,
                   what="the held messages delivered after the disable is lifted")
        ledger = sim.ledger(from_=SENDER)
    assert len(ledger) == 11 and len({m["to"] for m in ledger}) == 11


def test_batch__daily_cap_counts_the_whole_batch(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    stack.sql('UPDATE "OrgSettings" SET "dailySendCap" = 7 WHERE "orgId" = %s', (org["id"],))
    with stack.client(org["apiKey"]) as api:
        assert api.post("/v1/messages", json=_batch(1, start=90)[0]).status_code == 202
    out = _post(stack, org["apiKey"], _batch(10)).json()
    assert (out["accepted"], out["rejected"]) == (6, 4)
    assert all("id" in x for x in out["results"][:6])
    assert {x["error"]["code"] for x in out["results"][6:]} == {"daily_cap_reached"}
    assert _counts(stack) == (7, 7)
    # Nothing left today: a whole batch refused is not remembered under its key (nothing was stored).
    refused = _post(stack, org["apiKey"], _batch(2, start=20), **{"Idempotency-Key": "k"}).json()
    assert refused["accepted"] == 0 and refused["results"][0]["error"]["retryAfter"] > 0
    assert not stack.sql('SELECT 1 FROM "IdempotencyKey"')


def test_batch__needs_an_api_key_and_another_orgs_messages_stay_apart(make_stack):
    stack = make_stack(start_worker=False)
    a = stack.create_org("A", numbers=(SENDER,))
    stack.create_org("B", numbers=("+15017122662",))
    with stack.client() as anon:
        assert anon.post("/v1/messages:batch", json={"messages": _batch(2)}).status_code == 401
    out = _post(stack, a["apiKey"], _batch(3) + [{"to": _to(9), "body": "hi", "from": "+15017122662"}]).json()
    assert out["results"][3]["error"]["code"] == "invalid_from_number"  # B's number is not A's sender
    assert {r["orgId"] for r in stack.sql('SELECT "orgId" FROM "MessageLog"')} == {a["id"]}


def test_batch__stores_each_message_exactly_as_a_single_send_would(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org("MS", numbers=(), messaging_service_sid="MG" + "a" * 32)
    messages = [{"to": "(415) 555-2671", "body": "Caf\u00e9 \U0001F600 opens at 9 \u2014 see bit.ly/x"},
                {"to": "+442071838750", "body": "Your code is 1234."}]
    singles = []
    with stack.client(org["apiKey"]) as api:
        for m in messages:
            r = api.post("/v1/messages", json=m)
            assert r.status_code == 202, r.text
            singles.append(r.json())
    out = _post(stack, org["apiKey"], messages).json()
    assert out["accepted"] == 2
    keys = ("from", "to", "content", "segments", "encoding", "status", "direction", "channel")
    for single, item in zip(singles, out["results"]):
        one, many = stack.message(single["id"]), stack.message(item["id"])
        assert {k: one[k] for k in keys} == {k: many[k] for k in keys}
        assert one["from"] is None and many["metadata"]["messagingServiceSid"] == "MG" + "a" * 32
        # The second message to a recipient is not a "first" one: its findings differ from the
        # single send's (which was first) only by the opt-out reminder.
        first_only = {"opt_out_language"}
        assert [f for f in one["metadata"].get("findings", []) if f["code"] not in first_only] == \
               many["metadata"].get("findings", [])
        assert {k: v for k, v in single.items() if k not in ("id", "findings")} == \
               {k: v for k, v in item.items() if k not in ("id", "findings", "index")}
    assert out["results"][0]["encoding"] == "UCS-2" and out["results"][1]["to"] == "+442071838750"
    assert {f["code"] for f in out["results"][0]["findings"]} == {"url_shortener", "unicode_upgrade"}


def test_batch__body_over_its_own_size_limit_is_413_and_nothing_stored(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"max_batch_request_bytes": 4096})
    org = stack.create_org()
    r = _post(stack, org["apiKey"], _batch(100))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert _post(stack, org["apiKey"], _batch(10)).json()["accepted"] == 10
    assert _counts(stack) == (10, 10)
