"""Content retention: bodies purged, rows kept for the runbook."""

from __future__ import annotations

from datetime import datetime, timezone

from smsrelay.service.operations import retention

TO = "+14155552671"


def test_content_retention__purges_bodies_keeps_rows_for_the_runbook(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        old = api.post("/v1/messages", json={"to": TO, "body": "old secret"}).json()
        new = api.post("/v1/messages", json={"to": TO, "body": "fresh"}).json()
    stack.wait_status(old["id"], "delivered")
    stack.sql('UPDATE "MessageLog" SET "createdAt" = now() - interval \'31 days\' WHERE "id" = %s', (old["id"],))

    def purge() -> int:
        return stack.run(lambda rt: retention.purge_content(rt, now=datetime.now(timezone.utc)))

    assert purge() == 1
    purged, kept = stack.message(old["id"]), stack.message(new["id"])
    assert purged["content"] is None and purged["metadata"]["contentPurgedAt"]
    assert purged["status"] == "delivered" and purged["twilioSid"] and purged["to"] == TO
    assert kept["content"] == "fresh"
    assert purge() == 0, "a second run finds nothing more"
