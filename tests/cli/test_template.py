"""`smsrelay template list | show | disable | enable`, and `incident diagnose` naming the filtered
template, from the CLI: tables, --json, one readable line on a wrong name."""

from __future__ import annotations

import json

from tests.support.incident import cli, recipient, settled, sim

NUMBER = "+15017122661"
PROMO = "{{name}}, tonight only: 2-for-1 desserts at example.com/menu. Reply STOP to opt out."


def test_template_commands__list_show_disable_enable_and_diagnose(stack, monkeypatch):
    org = stack.create_org("Bistro", numbers=(NUMBER,))
    with stack.client(org["apiKey"]) as api, sim(stack) as s:
        api.post("/v1/templates", json={"name": "promo", "body": PROMO})
        api.post("/v1/templates", json={"name": "table_ready", "body": "Table for {{n:int}} ready. Reply STOP to end"})
        s.set_scenario("content_filtering", match="2-for-1")
        ids = [api.post("/v1/messages", json={"to": recipient(i), "template": "promo", "variables": {"name": f"G{i}"}}
                        ).json()["id"] for i in range(4)]
        settled(stack, ids)

    listed = json.loads(cli(stack, monkeypatch, "template", "list", org["id"], "--json").stdout)
    assert [t["name"] for t in listed["templates"]] == ["promo", "table_ready"]
    shown = cli(stack, monkeypatch, "template", "show", org["id"], "promo")
    assert shown.exit_code == 0 and "2-for-1 desserts" in shown.stdout and "placeholder_unicode" in shown.stdout

    diagnosed = cli(stack, monkeypatch, "incident", "diagnose")
    assert diagnosed.exit_code == 0, diagnosed.stdout
    first = diagnosed.stdout.split("\n\n", 2)[1]
    assert first.startswith("content_filtering") and "Template promo v1" in first
    assert f"$ smsrelay template disable {org['id']} promo" in first and "template promo v1: 100%" in first

    off = json.loads(cli(stack, monkeypatch, "template", "disable", org["id"], "promo", "--reason", "filtered",
                         "--json").stdout)
    assert off["disabled"] is True and off["reason"] == "filtered"
    on = cli(stack, monkeypatch, "template", "enable", org["id"], "promo")
    assert on.exit_code == 0 and "enabled" in on.stdout

    missing = cli(stack, monkeypatch, "template", "disable", org["id"], "nope")
    assert missing.exit_code != 0 and "No template nope." in missing.output
    actors = stack.sql('SELECT "actor" FROM "AuditLog" WHERE "tableName" = \'MessageTemplate\' '
                       'AND "action" IN (\'disable\', \'enable\')')
    assert len(actors) == 2 and all(a["actor"].startswith("cli:") for a in actors)
