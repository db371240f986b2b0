"""The claim that marks in flight (send_queue_claim_marked) and the result that finishes its row:
only a send nothing but the request is left to decide for is marked by the claim, the marker is
committed with the claim, before Twilio is asked, and the result of such a send ends its
"SendQueue" row in its own commit, never another owner's."""

from __future__ import annotations

import asyncio
import threading

from smsrelay.service.outbound import dispatch, guards
from smsrelay.service.outbound.send_queue import SendLoop
from smsrelay.service.outbound.send_writes import Result, SendWrites
from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.store import sql
from tests.support.waiting import wait_until

CLAIM = sql.QUERIES["send_queue_claim_marked"]


def _send(stack, org, to: str, body: str = "hello") -> str:
    with stack.client(org["apiKey"]) as api:
        answer = api.post("/v1/messages", json={"to": to, "body": body})
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]


def _claim(stack, owner: str = "w", enabled: bool = True) -> dict[str, dict]:
    with stack.db() as conn:
        rows = conn.execute(CLAIM, {"owner": owner, "lease": 30, "limit": 50, "enabled": enabled,
                                    "pause_key": guards.KILL_SWITCH_KEY}).fetchall()
    return {r["id"]: r for r in rows}


def _meta(stack, message_id: str) -> dict:
    return stack.sql('SELECT "metadata" FROM "MessageLog" WHERE "id" = %s', (message_id,))[0]["metadata"]


def test_claim_marked__marks_only_sends_with_nothing_left_to_decide(make_stack):
    stack = make_stack(start_worker=False)
    plain_org, limited, disabled = (
        stack.create_org(name, numbers=(number,)) for name, number in
        (("Plain", "+15017122661"), ("Limited", "+15017122662"), ("Off", "+15017122663")))
    plain = _send(stack, plain_org, "+14155550101")
    opted_out = _send(stack, plain_org, "+14155550102")
    throttled = _send(stack, limited, "+14155550103")
    switched_off = _send(stack, disabled, "+14155550104")
    stack.sql("""INSERT INTO "OptOut" ("orgId", "phone", "source") VALUES (%s, '+14155550102', 'test')""",
              (plain_org["id"],))
    stack.sql("""UPDATE "OrgSettings" SET "maxMessagesPerMinute" = 60 WHERE "orgId" = %s""", (limited["id"],))
    stack.sql("""UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s""", (disabled["id"],))

    claimed = _claim(stack)

    assert set(claimed) == {plain, opted_out, throttled, switched_off}, "every due row is claimed"
    assert [m for m, r in claimed.items() if r["marked"]] == [plain]
    meta = _meta(stack, plain)
    assert meta["attempts"] == 1 and meta["firstAttemptAt"] and meta["inFlight"]["token"].startswith("run_")
    assert claimed[plain]["metadata"]["inFlight"] == meta["inFlight"], "the run sends with the marker it committed"
    assert stack.sql("""SELECT count(*) AS n FROM "SendSlot" WHERE "messageId" = %s AND NOT "planned" """,
                     (plain,))[0]["n"] == 1, "an unthrottled send is logged for a limit set later"
    for guarded in (opted_out, throttled, switched_off):
        assert "inFlight" not in _meta(stack, guarded), "left to the guards, unmarked"
        assert claimed[guarded]["to"] is None


def test_claim_marked__marks_nothing_while_the_kill_switch_or_the_environment_switch_is_on(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    first = _send(stack, org, "+14155550111")
    stack.sql("""INSERT INTO "SystemSetting" ("key", "value") VALUES (%s, '{"paused": true}')
                 ON CONFLICT ("key") DO UPDATE SET "value" = EXCLUDED."value" """, (guards.KILL_SWITCH_KEY,))
    assert not _claim(stack)[first]["marked"]
    second = _send(stack, org, "+14155550112")
    stack.sql("""UPDATE "SystemSetting" SET "value" = '{"paused": false}' WHERE "key" = %s""", (guards.KILL_SWITCH_KEY,))
    assert not _claim(stack, enabled=False)[second]["marked"], "FEATURE_SMS_ENABLED=false marks nothing"
    assert "inFlight" not in _meta(stack, first) and "inFlight" not in _meta(stack, second)


def test_claim_marked__a_send_with_an_earlier_marker_is_left_to_the_adoption_path(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    message_id = _send(stack, org, "+14155550121")
    stack.sql("""UPDATE "MessageLog" SET "metadata" = "metadata" || '{"attempts": 1, "inFlight": {"token": "run_old"}}'
                 WHERE "id" = %s""", (message_id,))
    assert not _claim(stack)[message_id]["marked"]
    assert _meta(stack, message_id)["inFlight"] == {"token": "run_old"}, "the earlier marker is untouched"


def test_while_twilio_hangs__the_claims_marker_is_committed_and_no_transaction_is_open(make_stack):
    """The claim is the fence: its marker is visible to every other connection while the
    request is still out, and the send holds no connection meanwhile."""
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    message_id = _send(stack, org, "+14155550131")
    release = threading.Event()
    seen: dict = {}

    async def go(rt):
        real = rt.gateway.send

        async def hanging(**kwargs):
            seen["marker"] = await asyncio.to_thread(lambda: _meta(stack, message_id).get("inFlight"))
            seen["open"] = await asyncio.to_thread(stack.sql, """
                SELECT application_name, state, query FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND (state LIKE 'idle in transaction%%' OR xact_start IS NOT NULL AND state <> 'active')""")
            await asyncio.to_thread(release.wait, 30)
            return await real(**kwargs)

        rt.gateway.send = hanging
        loop = SendLoop(rt, dispatch.send_message, concurrency=2, heartbeat=1.0, send_claimed=dispatch.send_claimed)
        stop = asyncio.Event()
        runner = asyncio.create_task(loop.run(stop))
        await asyncio.to_thread(wait_until, lambda: "open" in seen, what="the request to go out")
        release.set()
        await asyncio.to_thread(wait_until, lambda: not stack.sql('SELECT 1 FROM "SendQueue"'),
                                what="the result to finish the row")
        stop.set()
        await runner
        return loop

    loop = stack.run(go)
    assert seen["marker"] and seen["marker"]["token"].startswith("run_"), "committed before the request"
    assert seen["open"] == [], "no transaction open during the request"
    assert loop.ended == [] and stack.message(message_id)["twilioSid"]
    with SimulatorClient(stack.sim.url) as sim:
        assert [m["body"] for m in sim.ledger(to="+14155550131")] == ["hello"]


def test_a_result_finishes_only_its_own_lease(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    mine, stolen = _send(stack, org, "+14155550141"), _send(stack, org, "+14155550142")
    _claim(stack, owner="me")
    # The second lease ran out and another worker holds it now.
    stack.sql("""UPDATE "SendQueue" SET "leaseOwner" = 'other' WHERE "messageId" = %s""", (stolen,))

    async def go(rt):
        writes = SendWrites(rt.pool)
        return await asyncio.gather(*(writes.results.submit(Result(m, "queued", f"SM{m[-30:]:0>32}", {}, owner="me"))
                                      for m in (mine, stolen)))

    assert stack.run(go) == [True, True]
    left = {r["messageId"]: r["leaseOwner"] for r in stack.sql('SELECT * FROM "SendQueue"')}
    assert left == {stolen: "other"}, "mine finished with its result; the other owner's row is its own"


def test_a_bloated_queue__is_vacuumed_by_the_maintenance_duty(make_stack):
    """Every send leaves dead "SendQueue" rows; on a server without autovacuum they would pile up."""
    from smsrelay.service.outbound.send_queue import VACUUM_DEAD_ROWS, vacuum_if_bloated

    stack = make_stack(start_worker=False)
    org = stack.create_org()
    message_id = _send(stack, org, "+14155550151")
    assert stack.run(vacuum_if_bloated) is False, "nothing dead yet"
    stack.sql(f"""DO $$ BEGIN FOR i IN 1..{VACUUM_DEAD_ROWS + 500} LOOP
                    UPDATE "SendQueue" SET "claims" = "claims" + 1 WHERE "messageId" = '{message_id}';
                  END LOOP; END $$""")
    # The server's counters reach pg_stat_user_tables about once a second.
    wait_until(lambda: stack.run(vacuum_if_bloated), timeout=20, what="the duty to see the bloat and vacuum")
    dead = stack.sql("""SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'SendQueue'""")[0]["n_dead_tup"]
    assert dead < VACUUM_DEAD_ROWS
    assert _claim(stack)[message_id], "the row itself is untouched"
