"""`smsrelay org opt-out …`: the operator's view of the list an org manages with /v1/opt-outs."""

from __future__ import annotations

import json

from tests.support.incident import cli

TO = "+14155552671"


def test_opt_out_commands__add_list_remove_share_the_orgs_list(stack, monkeypatch):
    org = stack.create_org("A", numbers=("+15017122661",))
    added = cli(stack, monkeypatch, "org", "opt-out", "add", org["id"], "(415) 555-2671")
    assert f"{TO} opted out" in added.stdout
    with stack.client(org["apiKey"]) as api:
        listed = api.get("/v1/opt-outs").json()["optOuts"]
        assert [o["phone"] for o in listed] == [TO] and listed[0]["source"].startswith("cli")
        api.post("/v1/opt-outs", json={"phone": "+14155552672"})
    rows = json.loads(cli(stack, monkeypatch, "org", "opt-out", "list", org["id"], "--json").stdout)
    assert [r["phone"] for r in rows] == [TO, "+14155552672"]
    cli(stack, monkeypatch, "org", "opt-out", "remove", org["id"], TO)
    rows = json.loads(cli(stack, monkeypatch, "org", "opt-out", "list", org["id"], "--json").stdout)
    assert [r["phone"] for r in rows] == ["+14155552672"]
    missing = cli(stack, monkeypatch, "org", "opt-out", "remove", org["id"], TO)
    assert missing.exit_code != 0 and "No such opt-out" in missing.output
