"""Reconciliation makes progress past messages Twilio keeps at `sent` and past per-message
errors: one run settles a newer message behind 250 stuck ones, and a second run leaves the
stuck ones alone until their recheck time."""

from __future__ import annotations

from smsrelay.service.delivery.reconcile import reconcile_open_messages
from tests.support.twilio_double import TwilioDouble


def stage_open(stack, org, prefix: str, n: int, minutes_ago: int) -> list[str]:
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata",
                                  "createdAt", "sentAt", "twilioSid")
        SELECT 'msg_' || %(prefix)s || g, %(org)s, 'outbound', 'sent', %(number)s, '+14155552671', 'Hi', '{}'::jsonb,
               now() - make_interval(mins => %(minutes)s) - g * interval '1 second', now(), 'SM' || %(prefix)s || g
        FROM generate_series(1, %(n)s) g""", {"prefix": prefix, "org": org["id"], "number": org["numbers"][0],
                                              "n": n, "minutes": minutes_ago})
    return [f"SM{prefix}{g}" for g in range(1, n + 1)]


def test_reconcile__250_stuck_sent_rows_do_not_starve_a_newer_one(make_stack):
    with TwilioDouble() as twilio:
        stack = make_stack(start_worker=False, settings_overrides={"twilio_api_base": twilio.url})
        org = stack.create_org()
        stuck = stage_open(stack, org, "stuck", 250, minutes_ago=2 * 24 * 60)  # two days at `sent`
        [newer] = stage_open(stack, org, "newer", 1, minutes_ago=90)
        twilio.statuses[newer] = "delivered"
        twilio.statuses[stuck[7]] = "no-such-status-a-twilio-bug"  # an odd answer: that row only

        assert stack.run(lambda rt: reconcile_open_messages(rt)) == 1
        row = stack.sql('SELECT "status", "metadata" FROM "MessageLog" WHERE "twilioSid" = %s', (newer,))[0]
        assert row["status"] == "delivered" and row["metadata"]["reconciled"] is True
        assert set(twilio.fetches) == {*stuck, newer}, "every eligible row was checked once"
        assert max(twilio.fetches.values()) == 1
        stamped = stack.sql("""SELECT count(*) AS n FROM "MessageLog" WHERE "metadata" ? 'reconciledAt'""")[0]["n"]
        assert stamped == 251

        # Checked a moment ago: the next run asks Twilio about none of them.
        twilio.fetches.clear()
        assert stack.run(lambda rt: reconcile_open_messages(rt)) == 0
        assert not twilio.fetches
        # Past the recheck time, the stuck rows are asked about again.
        assert stack.run(lambda rt: reconcile_open_messages(rt, recheck_seconds=0)) == 0
        assert set(twilio.fetches) == set(stuck)


def test_reconcile__a_network_error_on_one_message_is_skipped_not_fatal(make_stack):
    with TwilioDouble() as twilio:
        stack = make_stack(start_worker=False, settings_overrides={"twilio_api_base": twilio.url})
        org = stack.create_org()
        first, second, third = stage_open(stack, org, "trio", 3, minutes_ago=120)
        twilio.statuses.update({first: "delivered", second: "delivered", third: "undelivered"})
        twilio.cut.add(third)  # the oldest: checked first
        assert stack.run(lambda rt: reconcile_open_messages(rt)) == 2
        rows = {r["twilioSid"]: r for r in stack.sql('SELECT "twilioSid", "status", "metadata" FROM "MessageLog"')}
        assert rows[first]["status"] == rows[second]["status"] == "delivered"
        assert rows[third]["status"] == "sent" and "reconciledAt" in rows[third]["metadata"], "moved to the back"
