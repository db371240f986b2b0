"""Twilio outage, lost callbacks and callback chaos: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from smsrelay.domain.ids import new_id
from smsrelay.service.delivery.status_callbacks import apply_status_callback
from smsrelay.service.delivery.reconcile import reconcile_open_messages
from smsrelay.processes.scheduler import default_duties
from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store.db import psycopg_url
from tests.support.ports import free_port
from tests.support.waiting import wait_until


def test_twilio_outage__backs_off_with_jitter_then_sends_everything_once(make_stack):
    stack = make_stack(sim_overrides={"outage_hang_seconds": 1.0})
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("outage")
        with stack.client(org["apiKey"]) as api:
            ids = [api.post("/v1/messages", json={"to": f"+1415555{5000 + i}", "body": f"outage {i}"}).json()["id"]
                   for i in range(8)]
        wait_until(lambda: all(stack.message(i)["metadata"].get("lastError") for i in ids), timeout=30,
                   what="every message to have met the outage")
        during = [stack.message(i)["metadata"] for i in ids]
        sim.clear_scenarios()
        for message_id in ids:
            stack.wait_status(message_id, "delivered", timeout=90)
        sent = [m["body"] for m in sim.ledger(from_="+15017122661")]
    assert sorted(sent) == sorted(f"outage {i}" for i in range(8)), "each sent exactly once"
    # Backoff is exponential with jitter: the retries are spread out, not synchronised. Distinct
    # timestamps prove nothing (two retries a microsecond apart are distinct); each delay is
    # drawn from [ceiling / 2, ceiling] of its attempt's ceiling (a power of two seconds), so
    # without jitter every delay would sit at the same point of its range.
    delays = [(datetime.fromisoformat(m["nextAttemptAt"]) - datetime.fromisoformat(m["lastError"]["at"])).total_seconds()
              for m in during if m.get("nextAttemptAt")]
    assert len(delays) == len(during)
    points = [d / 2 ** math.ceil(math.log2(d)) for d in delays]
    assert max(points) - min(points) > 0.05, f"retry delays not spread: {delays}"
    attempts = [stack.message(i)["metadata"]["attempts"] for i in ids]
    assert max(attempts) <= 6, f"no retry storm: {attempts}"


def test_lost_callbacks__reconciled_against_twilio_after_an_hour(make_stack):
    # Twilio's callbacks go to a port nobody listens on: they are lost.
    stack = make_stack(settings_overrides={"public_base_url": f"http://127.0.0.1:{free_port()}"})
    org = stack.create_org()
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": "+14155552671", "body": "lost"}).json()
        row = wait_until(lambda: (m := stack.message(msg["id"]))["twilioSid"] and m, what="the sid")
        sim.wait_for_status(row["twilioSid"], {"delivered"}, timeout=20)
    assert stack.message(msg["id"])["status"] in {"queued", "accepted"}, "no callback reached us"
    assert "reconcile" in dict(default_duties()), "the scheduler runs reconciliation"

    def reconcile(older_than: int) -> int:
        return stack.run(lambda rt: reconcile_open_messages(rt, older_than_seconds=older_than))

    assert reconcile(3600) == 0, "younger than an hour: left alone"
    stack.sql('UPDATE "MessageLog" SET "createdAt" = now() - interval \'61 minutes\' WHERE "id" = %s', (msg["id"],))
    assert reconcile(3600) == 1
    row = stack.message(msg["id"])
    assert row["status"] == "delivered" and row["metadata"]["reconciled"] is True


FINALS = [("delivered", None), ("undelivered", "30003"), ("failed", "30008")]


@st.composite
def callback_sequences(draw):
    final, code = draw(st.sampled_from(FINALS))
    events = [("sent", None), (final, code)] if final != "failed" else [(final, code)]
    if draw(st.booleans()):
        events.insert(0, ("queued", None))
    with_duplicates = events + draw(st.lists(st.sampled_from(events), max_size=4))
    return final, code, draw(st.permutations(with_duplicates)), len(events)


CONNECTIONS = 4
MESSAGES = 3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=callback_sequences(), rnd=st.randoms(use_true_random=False))
def test_callback_chaos__any_order_with_duplicates_ends_in_the_same_final_status(database_url, case, rnd):
    """Twilio delivers callbacks concurrently (several API processes, several connections), so
    the claim is about the row lock, not just the lattice: every connection applies its own
    shuffle of the same callbacks to the same messages at once."""
    final, code, sequence, distinct = case

    async def run() -> list[tuple[str, int, dict]]:
        url = psycopg_url(database_url)
        conns = [await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True)
                 for _ in range(CONNECTIONS)]
        try:
            conn = conns[0]
            org = (await (await conn.execute('SELECT "id" FROM "Org" LIMIT 1')).fetchone())
            if org is None:
                await conn.execute('INSERT INTO "Org" ("id", "name") VALUES (\'org_chaos\', \'chaos\')')
                await conn.execute('INSERT INTO "OrgSettings" ("orgId") VALUES (\'org_chaos\')')
            messages = []
            for _ in range(MESSAGES):
                message_id, sid = new_id("msg"), "SM" + new_id("x")[2:].lower().ljust(32, "0")[:32]
                await conn.execute('INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "to", "twilioSid") '
                                   "VALUES (%s, 'org_chaos', 'outbound', 'queued', '+14155552671', %s)",
                                   (message_id, sid))
                messages.append((message_id, sid))

            async def deliver(c: psycopg.AsyncConnection, plan: list) -> None:
                for (message_id, sid), (status, error) in plan:
                    params = {"MessageSid": sid, "MessageStatus": status}
                    if error:
                        params["ErrorCode"] = error
                    # Twilio retries a callback with the same token; a different status is another event.
                    await apply_status_callback(c, params, message_id=message_id,
                                                idempotency_token=f"{sid}-{status}")
                    await asyncio.sleep(0)

            plans = []
            for _ in conns:
                plan = [(m, event) for m in messages for event in sequence]
                rnd.shuffle(plan)
                plans.append(plan)
            await asyncio.gather(*(deliver(c, plan) for c, plan in zip(conns, plans)))
            out = []
            for message_id, _ in messages:
                row = await (await conn.execute('SELECT * FROM "MessageLog" WHERE "id" = %s', (message_id,))).fetchone()
                events = await (await conn.execute('SELECT count(*) AS n FROM "MessageEvent" WHERE "messageId" = %s',
                                                   (message_id,))).fetchone()
                out.append((row["status"], events["n"], row["metadata"]))
            return out
        finally:
            for c in conns:
                await c.close()

    for status, stored, metadata in asyncio.run(run()):
        assert status == final
        assert stored == distinct, "each distinct event stored once"
        assert metadata.get("twilioErrorCode") == code
