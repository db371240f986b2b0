"""A staged pumping burst: one org suddenly sends to dozens of never-seen numbers in a
high-price country. The alert fires, the diagnosis names it, and with the autopilot on only
that org's messages to that country are held while its ordinary traffic goes on."""

from __future__ import annotations

from smsrelay.service.operations import alerts, autopilot, autopilot_config, incident
from smsrelay.service.spend import prices
from tests.support.waiting import wait_until

KNOWN = [f"+1415555{2600 + i:04d}" for i in range(8)]
UZ = [f"+99890{1000000 + i:07d}" for i in range(60)]


def _history(stack, org_id):
    """The org's ordinary traffic at this hour on the three earlier days: a few known US numbers."""
    for day in (1, 2, 3):
        for i, to in enumerate(KNOWN):
            stack.sql("""INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "to", "content", "metadata", "createdAt")
                         VALUES (%s, %s, 'outbound', 'delivered', %s, 'hi', '{"country": "US"}',
                                 now() - make_interval(days => %s, mins => %s))""",
                      (f"msg_hist_{org_id[-6:]}_{day}_{i}", org_id, to, day, 5 + i))


def _send(stack, org, numbers, body="Your code is 1234"):
    with stack.client(org["apiKey"]) as api:
        return [api.post("/v1/messages", json={"to": to, "body": body}).json()["id"] for to in numbers]


def test_pumping_burst__alert_diagnosis_and_autopilot_holds_only_the_new_destinations(make_stack):
    stack = make_stack()
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    _history(stack, org["id"])
    _history(stack, other["id"])
    stack.run(lambda rt: prices.refresh_destination_prices(rt, ["US", "UZ"]))

    async def switch_on(rt):
        async with rt.pool.connection() as conn:
            await autopilot_config.set_enabled(conn, ["sms_pumping"], True, actor="test")
    stack.run(switch_on)

    burst = _send(stack, org, KNOWN[:4]) + _send(stack, org, UZ[:30]) + _send(stack, other, KNOWN[:4])
    # The burst went out before anyone looked: what the hold must hold is only what comes after
    # (with the signal now quick to read, the autopilot could otherwise act while it still queues).
    for message_id in burst:
        stack.wait_status(message_id, {"sent", "delivered", "undelivered", "failed"}, timeout=60)
    changed = stack.run(alerts.evaluate)
    fired = {(a["rule"], a["orgId"]) for a in changed["fired"]}
    assert ("sms_pumping_suspected", org["id"]) in fired
    assert ("sms_pumping_suspected", other["id"]) not in fired

    found = stack.run(lambda rt: incident.diagnose(rt, "1h", live=False))
    pumped = [c for c in found["causes"] if c["cause"] == "sms_pumping"]
    assert [(c["orgs"], c["countries"]) for c in pumped] == [([org["id"]], ["UZ"])], found["causes"]

    did = stack.run(autopilot.autopilot_duty)
    assert "applied: hold org" in did["decided"]["sms_pumping"], did

    later_uz = _send(stack, org, UZ[30:40])
    later_us = _send(stack, org, KNOWN[4:8])
    others = _send(stack, other, KNOWN[4:6])
    for message_id in later_us + others:
        stack.wait_status(message_id, "delivered", timeout=60)
    for message_id in later_uz:
        stack.wait_status(message_id, "queued", timeout=60)

    def held() -> set[str]:
        return {r["id"] for r in stack.sql("""SELECT "id" FROM "MessageLog" WHERE "metadata"->'hold'->>'reason' = 'autopilot'""")}

    wait_until(lambda: held() == set(later_uz), timeout=60, what=lambda: f"only the later UZ messages held, got {held()}")
