"""The daily send cap (spend guard)."""

from __future__ import annotations

TO = "+14155552671"


def test_daily_send_cap__429_once_reached_until_midnight_and_per_org(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    from typer.testing import CliRunner

    from smsrelay.cli import app

    result = CliRunner().invoke(app, ["org", "policy", org["id"], "--daily-cap", "2", "--json"],
                                env={"DATABASE_URL": stack.database_url})
    assert result.exit_code == 0, result.output
    with stack.client(org["apiKey"]) as api:
        codes = [api.post("/v1/messages", json={"to": TO, "body": f"n{i}"}).status_code for i in range(2)]
        capped = api.post("/v1/messages", json={"to": TO, "body": "one too many"})
    assert codes == [202, 202]
    assert capped.status_code == 429 and capped.json()["error"]["code"] == "daily_cap_reached"
    assert 0 < int(capped.headers["Retry-After"]) <= 86400
    with stack.client(other["apiKey"]) as api:
        assert api.post("/v1/messages", json={"to": TO, "body": "fine"}).status_code == 202
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "orgId" = %s', (org["id"],))[0]["n"] == 2
    audit = stack.sql('SELECT "after" FROM "AuditLog" WHERE "orgId" = %s AND "action" = %s', (org["id"], "update"))
    assert audit[-1]["after"]["dailySendCap"] == 2
