"""The runbook is our contract: every SQL statement in it runs verbatim against a migrated
database and returns the right rows for traffic created through the API."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsrelay.simulator.ledger import SimulatorClient
from tests.support.incident import stage_geo_and_unreachable

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "runbook" / "messaging-failures-twilio.md"
VENDORED = ROOT / "docs" / "runbook-original.md"


def runbook_text() -> str:
    return (SHARED if SHARED.exists() else VENDORED).read_text()


def runbook_sql() -> dict[str, str]:
    """Each ```sql block, keyed by the heading above it."""
    blocks: dict[str, str] = {}
    heading = None
    for part in re.split(r"(^#+ .*$)", runbook_text(), flags=re.M):
        if part.startswith("#"):
            heading = part.lstrip("# ").strip()
            continue
        for sql in re.findall(r"```sql\n(.*?)```", part, flags=re.S):
            blocks[heading] = sql.strip()
    return blocks


def test_vendored_runbook__matches_the_shared_one():
    if not SHARED.exists():
        pytest.skip("../shared is not beside this checkout")
    assert VENDORED.read_text() == SHARED.read_text(), "refresh docs/runbook-original.md from ../shared"


def test_runbook__has_the_statements_we_test():
    assert set(runbook_sql()) == {
        "1. Check recent message delivery status", "2. Get specific failures", "4. Check by org",
        "Disable SMS for affected org", "Lower message rate", "4. Retry failed messages"}


@pytest.fixture
def incident(stack):
    """Two orgs: A has deliveries, a 21408 and 30003s; B has deliveries only."""
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    ids = stage_geo_and_unreachable(stack, a, b, geo_to=["+14155552900"])
    # An inbound message and an old outbound one must not be counted.
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound("+14155550123", "+15017122661", "hello")
    stack.sql('UPDATE "MessageLog" SET "createdAt" = now() - interval \'2 hours\' WHERE "id" = %s', (ids["delivered"][-1],))
    return {"a": a, "b": b, "ids": ids, "old": ids["delivered"][-1]}


def test_step1_status_counts__count_last_hour_outbound_by_status(stack, incident):
    rows = stack.sql(runbook_sql()["1. Check recent message delivery status"])
    assert {r["status"]: r["count"] for r in rows} == {"delivered": 5, "undelivered": 2, "failed": 1}


def test_step2_failures__list_codes_and_messages(stack, incident):
    rows = stack.sql(runbook_sql()["2. Get specific failures"])
    assert len(rows) == 3
    assert {r["id"] for r in rows} == set(incident["ids"]["undelivered"] + incident["ids"]["failed"])
    codes = sorted(r["error_code"] for r in rows)
    assert codes == ["21408", "30003", "30003"]
    assert all(r["error_message"] for r in rows)
    assert all(r["orgId"] == incident["a"]["id"] and r["channel"] == "sms" for r in rows)
    assert [r["createdAt"] for r in rows] == sorted((r["createdAt"] for r in rows), reverse=True)


def test_step4_by_org__counts_each_org(stack, incident):
    rows = stack.sql(runbook_sql()["4. Check by org"])
    by_org = {r["orgId"]: (r["delivered"], r["failed"], r["undelivered"]) for r in rows}
    assert by_org == {incident["a"]["id"]: (3, 1, 2), incident["b"]["id"]: (2, 0, 0)}
    assert rows[0]["orgId"] == incident["a"]["id"], "ORDER BY failed DESC puts the failing org first"


def test_retry_query__finds_failed_21408_and_30008(stack, incident):
    rows = stack.sql(runbook_sql()["4. Retry failed messages"])
    assert [r["id"] for r in rows] == incident["ids"]["failed"]
    assert rows[0]["metadata"]["twilioErrorCode"] == "21408" and rows[0]["content"] == "GEO"


def test_mitigation_sql__runs_verbatim_and_is_audited(stack, incident):
    org = incident["a"]["id"]
    for heading in ("Disable SMS for affected org", "Lower message rate"):
        statement = runbook_sql()[heading].replace("org_xxx", org)
        with stack.db() as conn:
            assert conn.execute(statement).rowcount == 1
    settings = stack.sql('SELECT * FROM "OrgSettings" WHERE "orgId" = %s', (org,))[0]
    assert settings["smsDisabled"] is True and settings["maxMessagesPerMinute"] == 5
    audit = stack.sql('SELECT * FROM "AuditLog" WHERE "orgId" = %s AND "action" = \'update\' ORDER BY "id"', (org,))
    assert len(audit) == 2
    assert audit[0]["before"]["smsDisabled"] is False and audit[0]["after"]["smsDisabled"] is True
    assert audit[1]["after"]["maxMessagesPerMinute"] == 5
    assert audit[0]["actor"].startswith("sql:"), "a raw UPDATE is attributed to the database user"
