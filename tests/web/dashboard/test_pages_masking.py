"""Issue 15: the customer's phone number is masked on every dashboard page an operator looks at
(failure tables, searches, a message with its raw callbacks), as the CLI and the logs mask it;
one message's number is shown in full only through an audited reveal."""

from __future__ import annotations


from smsrelay.domain import phone
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.waiting import wait_until
from tests.web.dashboard.helpers import USER, csrf_token, log_in, settings

ORG_NUMBER = "+15017122661"
FAILING = "+14155552800"  # unreachable: undelivered, with Twilio's callbacks
TEXTING_IN = "+14155550123"


def test_dashboard__masks_customer_numbers_and_reveals_one_through_the_audit_log(make_stack, tmp_path):
    stack = make_stack(settings_overrides=settings(tmp_path))
    org = stack.create_org("Acme Clinic", (ORG_NUMBER,))
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        sim.set_scenario("unreachable", match="UNREACHABLE")
        failed = api.post("/v1/messages", json={"to": FAILING, "body": "UNREACHABLE"}).json()["id"]
        sim.send_inbound(TEXTING_IN, ORG_NUMBER, "Running late")
    stack.wait_status(failed, "undelivered")
    inbound = wait_until(lambda: stack.sql('SELECT "id" FROM "MessageLog" WHERE "direction" = \'inbound\''),
                         what="the inbound message")[0]["id"]
    wait_until(lambda: stack.sql('SELECT 1 FROM "MessageEvent" WHERE "messageId" = %s', (failed,)),
               what="the failure's callback")

    with stack.client() as http:
        assert log_in(http).status_code == 303
        pages = {path: http.get(path) for path in (
            "/dashboard", "/dashboard/fragments/overview", f"/dashboard/orgs/{org['id']}",
            "/dashboard/messages?status=undelivered", "/dashboard/messages?direction=inbound",
            f"/dashboard/messages/{failed}", f"/dashboard/messages/{inbound}")}
        for path, resp in pages.items():
            assert resp.status_code == 200, path
            assert FAILING not in resp.text and TEXTING_IN not in resp.text, f"{path} shows a full number"
        for path in ("/dashboard", f"/dashboard/orgs/{org['id']}", "/dashboard/messages?status=undelivered",
                     f"/dashboard/messages/{failed}"):
            assert phone.mask(FAILING) in pages[path].text, path
        assert phone.mask(TEXTING_IN) in pages["/dashboard/messages?direction=inbound"].text
        assert ORG_NUMBER in pages[f"/dashboard/messages/{failed}"].text, "the org's own sender stays readable"
        assert "MessageSid" in pages[f"/dashboard/messages/{failed}"].text  # the raw callbacks are there, masked

        csrf = csrf_token(pages[f"/dashboard/messages/{failed}"])
        forged = http.post(f"/dashboard/messages/{failed}/reveal", data={"reason": "x"})
        assert forged.status_code == 403 and FAILING not in forged.text
        assert stack.sql('SELECT 1 FROM "AuditLog" WHERE "action" = \'reveal_number\'') == []

        revealed = http.post(f"/dashboard/messages/{failed}/reveal",
                             data={"csrf_token": csrf, "reason": "customer called about it"})
        assert revealed.status_code == 200 and FAILING in revealed.text
        assert revealed.headers["Cache-Control"] == "no-store"
        assert FAILING not in http.get(f"/dashboard/messages/{failed}").text, "a reveal is for that response only"
        inbound_revealed = http.post(f"/dashboard/messages/{inbound}/reveal", data={"csrf_token": csrf})
        assert TEXTING_IN in inbound_revealed.text

    audit = stack.sql('SELECT "orgId", "actor", "reason", "after" FROM "AuditLog" '
                      'WHERE "action" = \'reveal_number\' ORDER BY "id"')
    assert audit == [
        {"orgId": org["id"], "actor": f"dashboard:{USER}", "reason": "customer called about it",
         "after": {"messageId": failed, "field": "to"}},
        {"orgId": org["id"], "actor": f"dashboard:{USER}", "reason": None,
         "after": {"messageId": inbound, "field": "from"}},
    ]
