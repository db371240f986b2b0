"""The investigation commands (runbook steps 1, 2, 4, 5), Twilio checks, diagnose and report
from the CLI: tables, --json, and one clear line on bad input or an unreachable database."""

from __future__ import annotations

import json

from tests.support.incident import NUMBERS, cli, history, make_orgs, recipient, send, settled, sim


def _staged(stack):
    a, b = make_orgs(stack, NUMBERS[:2])
    history(stack, [a, b], 5)
    with sim(stack) as s:
        s.set_scenario("sender_number_issue", number=a["numbers"][0])
        ids = [send(stack, org, recipient(10 * i + k)) for i, org in enumerate((a, b)) for k in range(3)]
        settled(stack, ids)
    return a, b


def test_investigation_commands__json_and_tables(stack, monkeypatch):
    a, b = _staged(stack)
    status = json.loads(cli(stack, monkeypatch, "incident", "status", "--json").stdout)
    assert {s["status"]: s["count"] for s in status["statuses"]} == {"delivered": 13, "failed": 3}
    assert status["failed"] == 3 and status["window"]["since"] < status["window"]["until"]

    only_b = json.loads(cli(stack, monkeypatch, "incident", "status", "--org", b["id"], "--json").stdout)
    assert only_b["total"] == 8 and only_b["failed"] == 0

    failures = json.loads(cli(stack, monkeypatch, "incident", "failures", "--since", "30m", "--json").stdout)["failures"]
    assert len(failures) == 3 and {f["orgId"] for f in failures} == {a["id"]}
    assert {f["errorCode"] for f in failures} == {"21606"} and all("*" in f["to"] for f in failures)

    orgs = json.loads(cli(stack, monkeypatch, "incident", "orgs", "--json").stdout)["orgs"]
    assert [o["orgId"] for o in orgs] == [a["id"], b["id"]]
    assert (orgs[0]["failed"], orgs[0]["delivered"]) == (3, 5)

    errors = json.loads(cli(stack, monkeypatch, "incident", "errors", "--json").stdout)["errors"]
    assert [(e["code"], e["count"], e["cause"], e["retryable"]) for e in errors] == [("21606", 3, "sender_number", False)]

    for command in ("status", "failures", "orgs", "errors", "diagnose"):
        r = cli(stack, monkeypatch, "incident", command, "--since", "2h")
        assert r.exit_code == 0, (command, r.output)
    assert "21606" in cli(stack, monkeypatch, "incident", "errors").stdout

    diagnosis = json.loads(cli(stack, monkeypatch, "incident", "diagnose", "--json").stdout)
    # "templates": those involved in content filtering (service/operations/template_incident.py).
    assert set(diagnosis) == {"window", "causes", "templates"} and set(diagnosis["window"]) == {"since", "until"}
    assert diagnosis["templates"] == []
    top = diagnosis["causes"][0]
    assert set(top) == {"cause", "confidence", "summary", "evidence", "orgs", "numbers", "actions", "state", "onset",
                        "lastSeen", "resolvedAt", "trend", "share", "codes", "countries", "templates", "channels",
                        "fix", "afterFix"}
    assert top["cause"] == "sender_number" and top["numbers"] == [a["numbers"][0]]
    assert top["state"] == "live" and top["afterFix"] == [f"smsrelay retry --since 1h --org {a['id']} --codes 21606 --yes"]
    printed = cli(stack, monkeypatch, "incident", "diagnose").stdout
    assert "then, once fixed (" in printed and "live since" in printed
    # The retry is printed after the fix, never as a step to run now.
    assert printed.index("then, once fixed") < printed.index("$ smsrelay retry")
    assert any("inactive" in e for e in top["evidence"])  # the live number check
    assert f"smsrelay twilio number {a['numbers'][0]}" in top["actions"]


def test_twilio_commands(stack, monkeypatch):
    a, _ = _staged(stack)
    balance = json.loads(cli(stack, monkeypatch, "twilio", "balance", "--json").stdout)
    assert float(balance["balance"]) > 0 and balance["currency"] == "USD"
    assert json.loads(cli(stack, monkeypatch, "twilio", "account", "--json").stdout)["status"] == "active"
    numbers = json.loads(cli(stack, monkeypatch, "twilio", "numbers", "--json").stdout)
    assert a["numbers"][0] in {n["phone_number"] for n in numbers}
    one = json.loads(cli(stack, monkeypatch, "twilio", "number", a["numbers"][0], "--json").stdout)
    assert one["phone_number"] == a["numbers"][0] and one["status"] == "inactive"
    assert "inactive" in cli(stack, monkeypatch, "twilio", "number", a["numbers"][0]).stdout
    for args, code in ((["twilio", "number", "not-a-number"], 2), (["twilio", "number", "+14155550199"], 2)):
        r = cli(stack, monkeypatch, *args)
        assert r.exit_code == code and len(r.stderr.strip().splitlines()) == 1, r.output
    with sim(stack) as s:
        s.set_scenario("auth_failure")
        r = cli(stack, monkeypatch, "twilio", "balance")
        s.clear_scenarios()
    assert r.exit_code == 1 and "20003" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_report__markdown_with_timeline_diagnosis_and_checklist(stack, monkeypatch, tmp_path):
    a, b = _staged(stack)
    assert cli(stack, monkeypatch, "org", "disable", a["id"], "--reason", "sender broken").exit_code == 0
    out = tmp_path / "report.md"
    r = cli(stack, monkeypatch, "incident", "report", "--out", str(out))
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for heading in ("# SMS incident report: sender_number", "## Timeline", "### Failure rate per 5 minutes",
                    "## Root cause (draft", "## Affected orgs and numbers", "## Error codes",
                    "## Other orgs with similar failures", "## Post-incident checklist"):
        assert heading in text, heading
    assert f"org {a['id']} update: smsDisabled: False → True by cli" in text and "sender broken" in text
    assert "- [ ] Document root cause" in text and "21606" in text and a["numbers"][0] in text
    printed = cli(stack, monkeypatch, "incident", "report", "--since", "1h")
    assert printed.exit_code == 0 and printed.stdout.startswith("# SMS incident report")


def test_bad_arguments_and_unreachable_database__one_line_non_zero(stack, monkeypatch):
    for args in (["incident", "status", "--since", "soon"], ["incident", "failures", "--limit", "0"],
                 ["incident", "orgs", "--org", "org_missing"], ["incident", "diagnose", "--since", "0h"],
                 ["org", "throttle", "org_missing", "--per-minute", "5"]):
        r = cli(stack, monkeypatch, *args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("smsrelay: "), r.stderr

    stack.database_url = "postgresql://postgres@127.0.0.1:9/nowhere"  # nothing listens on port 9
    for args in (["incident", "status"], ["incident", "diagnose", "--json"], ["retry"], ["org", "enable", "org_x"],
                 ["incident", "report"]):
        r = cli(stack, monkeypatch, *args)
        assert r.exit_code == 1, (args, r.output)
        assert r.stderr.startswith("smsrelay: cannot reach the database") and len(r.stderr.strip().splitlines()) == 1
