"""`smsrelay autopilot status [CAUSE…]` (issue 19: `status|enable|disable [CAUSE…]`): named causes
filter the switches and the actions; an unknown cause is one line and exit 2, before any database."""

from __future__ import annotations

import json

from smsrelay.domain import autopilot as rules
from smsrelay.service.operations import autopilot_actions
from tests.support.incident import cli


def test_status__filters_by_cause_and_refuses_an_unknown_one(make_stack, monkeypatch):
    stack = make_stack(start_worker=False)
    org = stack.create_org("Acme")
    assert cli(stack, monkeypatch, "autopilot", "enable", "sender_number", "account").exit_code == 0
    plan = rules.Plan("sender_number", "disable_org", rules.Scope("org", org["id"], org["id"]), False, "test")
    action = stack.run(lambda rt: autopilot_actions.apply(rt, plan, dry_run=False, details={}))

    every = json.loads(cli(stack, monkeypatch, "autopilot", "status", "--json").stdout)
    assert [c["cause"] for c in every["causes"]] == list(rules.CAUSES)

    one = cli(stack, monkeypatch, "autopilot", "status", "sender_number", "--json")
    assert one.exit_code == 0, one.output
    data = json.loads(one.stdout)
    assert [(c["cause"], c["enabled"]) for c in data["causes"]] == [("sender_number", True)]
    assert [a["id"] for a in data["actions"]] == [action["id"]]

    other = json.loads(cli(stack, monkeypatch, "autopilot", "status", "account", "--json").stdout)
    assert [c["cause"] for c in other["causes"]] == ["account"] and other["actions"] == []
    table = cli(stack, monkeypatch, "autopilot", "status", "account")
    assert table.exit_code == 0 and "sender_number" not in table.stdout and "No autopilot action" in table.stdout

    unknown = cli(stack, monkeypatch, "autopilot", "status", "account", "weather")
    assert unknown.exit_code == 2
    (line,) = unknown.stderr.strip().splitlines()
    assert "'weather' is not a cause the autopilot handles" in line and "sender_number" in line
