"""service/audit.py is the one writer of an audited settings change: every mitigation and policy
change cleans its reason the same way, and refuses a long one before anything is written."""

from __future__ import annotations

import pytest

from smsrelay.service import audit
from smsrelay.service.problems import Problem
from smsrelay.service.tenancy import mitigations, org_policy

TOO_LONG = "x" * (audit.MAX_REASON + 1)


def test_clean_reason__trims_and_empties_to_none():
    assert audit.clean_reason("  why  ") == "why"
    assert audit.clean_reason("   ") is None and audit.clean_reason(None) is None
    assert audit.clean_reason("y" * audit.MAX_REASON) == "y" * audit.MAX_REASON


def _in_conn(fn):
    async def go(rt):
        async with rt.pool.connection() as conn:
            return await fn(conn)
    return go


@pytest.mark.parametrize("change", [
    lambda org: lambda conn: mitigations.disable_org(conn, org, actor="t", reason=TOO_LONG),
    lambda org: lambda conn: mitigations.throttle_org(conn, org, 5, actor="t", reason=TOO_LONG),
    lambda org: lambda conn: mitigations.pause(conn, actor="t", reason=TOO_LONG),
    lambda org: lambda conn: org_policy.update(conn, org, {"helpText": "hi"}, actor="t", reason=TOO_LONG),
    lambda org: lambda conn: org_policy.update(conn, org, {}, actor="t", reason=TOO_LONG),
], ids=["disable", "throttle", "pause", "policy", "policy-unchanged"])
def test_a_too_long_reason__is_the_same_refusal_everywhere_and_writes_nothing(stack, change):
    org = stack.create_org("Acme")
    before = stack.sql('SELECT count(*) AS n FROM "AuditLog"')[0]["n"]
    with pytest.raises(Problem) as caught:
        stack.run(_in_conn(change(org["id"])))
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        422, "invalid_reason", f"The reason must be at most {audit.MAX_REASON} characters.")
    assert stack.sql('SELECT count(*) AS n FROM "AuditLog"')[0]["n"] == before
    assert stack.sql('SELECT count(*) AS n FROM "SystemSetting" WHERE "key" = \'sms_paused\'')[0]["n"] == 0


def test_pause_and_policy__name_actor_and_reason_or_their_default(stack):
    org = stack.create_org("Acme")
    stack.run(_in_conn(lambda conn: mitigations.pause(conn, actor="cli:ops", reason="  carrier outage ")))
    stack.run(_in_conn(lambda conn: mitigations.resume(conn, actor="admin:bob")))
    stack.run(_in_conn(lambda conn: org_policy.update(conn, org["id"], {"helpText": "Call us"}, actor="dashboard:eve")))
    # "test" created the org; the rest are the three changes, the first pause an insert.
    rows = stack.sql('SELECT "tableName", "actor", "reason" FROM "AuditLog" WHERE "actor" <> \'test\' ORDER BY "id"')
    assert [(r["tableName"], r["actor"], r["reason"]) for r in rows] == [
        ("SystemSetting", "cli:ops", "carrier outage"),
        ("SystemSetting", "admin:bob", "sms resume"),
        ("OrgSettings", "dashboard:eve", "policy: helpText"),
    ]
