"""`smsrelay org webhook …` and `smsrelay org deliveries …`: an operator does what the org does
with its key, audited under cli:<user>; the signing secret is printed once, at create and rotation."""

from __future__ import annotations

import json

from tests.support.event_receiver import EventReceiver, verify_with_python_snippet
from tests.support.incident import cli
from tests.support.waiting import wait_until


def test_org_webhook_and_deliveries_commands(make_stack, monkeypatch):
    receiver = EventReceiver().start()
    try:
        stack = make_stack(settings_overrides={"webhook_poll_seconds": 0.05})
        created = json.loads(cli(stack, monkeypatch, "org", "create", "Acme", "--number", "+15017122661",
                                 "--json").stdout)
        assert created["signingSecret"].startswith("whsec_")
        org = created["id"]
        shown = cli(stack, monkeypatch, "org", "webhook", "set", org, "--status-url", receiver.url, "--json")
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["statusUrl"] == receiver.url
        assert created["signingSecret"] not in cli(stack, monkeypatch, "org", "webhook", "show", org).stdout

        event = json.loads(cli(stack, monkeypatch, "org", "webhook", "test", org, "--json").stdout)["eventId"]
        wait_until(lambda: receiver.delivered(), timeout=15, what="the test event")
        hit = receiver.delivered()[0]
        assert verify_with_python_snippet(created["signingSecret"], hit.headers["smsrelay-signature"], hit.body)

        listed = json.loads(cli(stack, monkeypatch, "org", "deliveries", "list", org, "--json").stdout)
        assert [(d["eventId"], d["state"]) for d in listed] == [(event, "delivered")]
        assert "delivered" in cli(stack, monkeypatch, "org", "deliveries", "show", org, event).stdout
        replayed = cli(stack, monkeypatch, "org", "deliveries", "replay", org, event, "--reason", "lost it")
        assert replayed.exit_code == 0, replayed.output
        wait_until(lambda: len(receiver.delivered()) == 2, timeout=15, what="the replay")

        rotated = cli(stack, monkeypatch, "org", "webhook", "rotate-secret", org)
        assert rotated.exit_code == 0 and "whsec_" in rotated.stdout
        missing = cli(stack, monkeypatch, "org", "deliveries", "show", org, "evt_424242")
        assert missing.exit_code != 0 and "evt_424242" in missing.output
        bad = cli(stack, monkeypatch, "org", "webhook", "set", org, "--status-url", "not a url")
        assert bad.exit_code == 2 and "statusUrl" in bad.output
        audit = stack.sql('SELECT "tableName", "action", "actor", "reason" FROM "AuditLog" '
                          'WHERE "orgId" = %s AND "tableName" <> \'OrgSettings\' ORDER BY "id"', (org,))
        assert [(a["tableName"], a["action"], a["reason"]) for a in audit] == [
            ("WebhookEvent", "replay", "lost it"), ("WebhookSecret", "rotate", "webhook secret rotated")]
        assert all(a["actor"].startswith("cli:") for a in audit)
    finally:
        receiver.stop()
