"""`smsrelay retry`: re-sends each eligible failure exactly once (simulator ledger), records
lineage, and skips codes Twilio says not to retry unless forced."""

from __future__ import annotations

import json

from tests.support.incident import NUMBERS, cli, make_orgs, recipient, send, settled, sim
from tests.support.waiting import wait_until

FR = "+33612345678"


def _ledger_count(stack, to: str) -> int:
    with sim(stack) as s:
        return len(s.ledger(to=to))


def test_retry__twice_sends_each_eligible_message_once(stack, monkeypatch):
    a, b = make_orgs(stack, NUMBERS[:2])
    with sim(stack) as s:
        s.set_scenario("content_filtering")  # first: bit.ly bodies get 30007
        s.set_scenario("unknown_error", number=a["numbers"][0])
        s.set_scenario("geo_blocked", country="FR")
        s.set_scenario("invalid_to", number=b["numbers"][0])
        retryable = [send(stack, a, recipient(k)) for k in range(3)]
        filtered = send(stack, a, recipient(10), "Win big https://bit.ly/abc")
        geo = send(stack, a, FR)
        invalid = [send(stack, b, recipient(20 + k)) for k in range(2)]
        rows = {r["id"]: r for r in settled(stack, [*retryable, filtered, geo, *invalid])}
        s.clear_scenarios()
    assert {rows[m]["metadata"]["twilioErrorCode"] for m in retryable} == {"30008"}
    assert rows[filtered]["metadata"]["twilioErrorCode"] == "30007"
    assert rows[geo]["metadata"]["twilioErrorCode"] == "21408"
    assert {rows[m]["metadata"]["twilioErrorCode"] for m in invalid} == {"21211"}
    # Evidence that the cause cleared: a message of the same org and sender gets through.
    stack.wait_status(send(stack, a, recipient(40)), "delivered")

    preview = cli(stack, monkeypatch, "retry", "--dry-run", "--json")
    assert preview.exit_code == 0, preview.output
    assert sorted(m["id"] for m in json.loads(preview.stdout)["eligible"]) == sorted(retryable)
    assert all(_ledger_count(stack, recipient(k)) == 1 for k in range(3))

    first = cli(stack, monkeypatch, "retry", "--json")
    assert first.exit_code == 0, first.output
    retried = json.loads(first.stdout)["retried"]
    assert sorted(r["original"] for r in retried) == sorted(retryable)
    for r in retried:
        new = stack.wait_status(r["retry"], "delivered")
        assert new["metadata"]["retryOf"] == r["original"]
        assert stack.message(r["original"])["metadata"]["retriedBy"] == r["retry"]
        assert new["to"] == stack.message(r["original"])["to"] and new["orgId"] == a["id"]

    second = cli(stack, monkeypatch, "retry", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["retried"] == []
    assert [_ledger_count(stack, recipient(k)) for k in range(3)] == [2, 2, 2]
    assert _ledger_count(stack, recipient(10)) == 1  # 30007: never re-sent
    assert all(_ledger_count(stack, recipient(20 + k)) == 0 for k in range(2))  # 21211 never reached the ledger

    refused = cli(stack, monkeypatch, "retry", "--codes", "21408")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    # Nothing reached FR since its 21408: the cause may still stand, so only a probe goes.
    still = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes")
    assert still.exit_code == 2 and "still failing" in still.stderr and "--probe" in still.stderr
    forced = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes", "--probe", "--json")
    assert forced.exit_code == 0, forced.output
    (item,) = json.loads(forced.stdout)["retried"]
    assert item["original"] == geo
    stack.wait_status(item["retry"], "delivered")
    again = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes", "--json")
    assert json.loads(again.stdout)["retried"] == []


def test_retry__table_and_progress_output(stack, monkeypatch):
    (a,) = make_orgs(stack, NUMBERS[:1])
    with sim(stack) as s:
        s.set_scenario("unknown_error")
        ids = [send(stack, a, recipient(k)) for k in range(2)]
        settled(stack, ids)
        s.clear_scenarios()
    stack.wait_status(send(stack, a, recipient(40)), "delivered")  # the cause cleared
    result = cli(stack, monkeypatch, "retry", "--org", a["id"])
    assert result.exit_code == 0, result.output
    assert "Retry preview" in result.stdout and "2 message(s) re-sent" in result.stdout
    wait_until(lambda: stack.sql("""SELECT count(*) AS n FROM "MessageLog" WHERE "status" = 'delivered'
                                    AND "metadata" ? 'retryOf'""")[0]["n"] == 2, what="retries delivered")
    audit = stack.sql("""SELECT * FROM "AuditLog" WHERE "action" = 'retry'""")
    assert len(audit) == 1 and audit[0]["after"]["retried"] == 2 and audit[0]["actor"].startswith("cli")


def test_retry__bad_arguments_exit_non_zero_with_one_line(stack, monkeypatch):
    for args in (["retry", "--codes", "abc"], ["retry", "--since", "yesterday"], ["retry", "--org", "org_nope"]):
        result = cli(stack, monkeypatch, *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_retry__refuses_while_the_cause_still_fails__probe_and_budget_override(stack, monkeypatch):
    """The issue's night: 21408 while FR was still blocked. Pasting the retry re-sent nothing
    (refused with the reason); a probe failed again; after the fix the probe's lineage had used
    its budget, and --ignore-budget re-sent it once more."""
    (a,) = make_orgs(stack, NUMBERS[:1])
    with sim(stack) as s:
        s.set_scenario("geo_blocked", country="FR")
        geo = send(stack, a, FR)
        settled(stack, [geo])
        refused = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes")
        assert refused.exit_code == 2, refused.output
        *warning, line = refused.stderr.strip().splitlines()
        assert [w for w in warning if not w.startswith("warning: Twilio says 21408")] == []
        assert "21408 is still failing at org " + a["id"] in line and "country FR" in line and "--probe" in line
        assert _ledger_count(stack, FR) == 0

        probe = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes", "--probe", "--json")
        assert probe.exit_code == 0, probe.output
        (first,) = json.loads(probe.stdout)["retried"]
        stack.wait_status(first["retry"], "failed")  # still blocked
        s.clear_scenarios()

    exhausted = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes", "--probe", "--json")
    data = json.loads(exhausted.stdout)
    assert data["retried"] == [] and [r["id"] for r in data["skipped"]] == [first["retry"]]
    assert "--ignore-budget" in data["skipped"][0]["reason"]

    override = cli(stack, monkeypatch, "retry", "--codes", "21408", "--yes", "--probe", "--ignore-budget", "--json")
    assert override.exit_code == 0, override.output
    assert "--ignore-budget" in override.stderr
    (second,) = json.loads(override.stdout)["retried"]
    assert second["original"] == first["retry"]
    stack.wait_status(second["retry"], "delivered")
    assert _ledger_count(stack, FR) == 1
