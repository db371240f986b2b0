"""An org's webhooks on the dashboard: endpoint state, deliveries with their attempts, and a
replay that needs the session's CSRF token and is audited as the operator's."""

from __future__ import annotations


from tests.support.event_receiver import EventReceiver
from tests.support.waiting import wait_until
from tests.web.dashboard.helpers import USER, csrf_token, log_in, settings


def test_dashboard__org_deliveries_endpoint_state_and_audited_replay(make_stack, tmp_path):
    receiver = EventReceiver(status=500).start()
    try:
        stack = make_stack(settings_overrides=settings(tmp_path, webhook_retry_base_seconds=0.05,
                                                       webhook_retry_max_seconds=0.1, webhook_poll_seconds=0.05,
                                                       webhook_failing_after=2))
        org = stack.create_org("Acme Clinic")
        with stack.client(org["apiKey"]) as api:
            api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
            event = api.post("/v1/webhooks/test").json()["eventId"]
        wait_until(lambda: len(receiver.hits) >= 3, timeout=15, what="failed attempts")
        with stack.client() as http:
            assert log_in(http).status_code == 303
            assert "/webhooks" in http.get(f"/dashboard/orgs/{org['id']}").text
            shown = http.get(f"/dashboard/orgs/{org['id']}/webhooks?event={event}")
            assert shown.status_code == 200
            assert "failing since" in shown.text and event in shown.text and "http_error" in shown.text
            assert org["signingSecret"] not in shown.text
            forged = http.post(f"/dashboard/orgs/{org['id']}/deliveries/{event}/replay", data={})
            assert forged.status_code == 403
            receiver.status = 200
            wait_until(lambda: receiver.delivered(), timeout=15, what="the event after recovery")
            done = http.post(f"/dashboard/orgs/{org['id']}/deliveries/{event}/replay",
                             data={"csrf_token": csrf_token(shown), "reason": "customer asked"})
            assert done.status_code == 303
            wait_until(lambda: len(receiver.delivered()) == 2, timeout=15, what="the replay")
            other = stack.create_org("Other", numbers=("+15017122662",))
            assert http.get(f"/dashboard/orgs/{other['id']}/webhooks?event={event}").status_code == 404
        audit = stack.sql('SELECT "actor", "reason" FROM "AuditLog" WHERE "tableName" = \'WebhookEvent\'')
        assert audit == [{"actor": f"dashboard:{USER}", "reason": "customer asked"}]
    finally:
        receiver.stop()
