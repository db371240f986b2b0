"""The dashboard's template pages over plain HTTP: an org's templates, one template's text,
findings and versions, and the template hold behind a CSRF-checked confirmation, audited as the
operator's; the diagnosis page names the filtered template."""

from __future__ import annotations


from smsrelay.simulator.ledger import SimulatorClient
from tests.support.incident import recipient, settled
from tests.web.dashboard.helpers import USER, csrf_token, log_in, settings

NUMBER = "+15017122661"
PROMO = "{{name}}, tonight only: 2-for-1 desserts at bit.ly/menu"


def test_template_pages__show_findings_and_hold_the_template_as_the_operator(make_stack, tmp_path):
    stack = make_stack(settings_overrides=settings(tmp_path))
    org = stack.create_org("Bistro", (NUMBER,))
    with stack.client(org["apiKey"]) as api, SimulatorClient(stack.sim.url) as sim:
        assert api.post("/v1/templates", json={"name": "promo", "body": PROMO}).status_code == 201
        sim.set_scenario("content_filtering", match="2-for-1")
        ids = [api.post("/v1/messages", json={"to": recipient(i), "template": "promo",
                                              "variables": {"name": f"G{i}"}}).json()["id"] for i in range(4)]
        settled(stack, ids)
    base = f"/dashboard/orgs/{org['id']}/templates"
    with stack.client() as http:
        assert log_in(http).status_code == 303
        listing = http.get(base)
        assert listing.status_code == 200 and "promo" in listing.text and "url_shortener" in listing.text
        shown = http.get(f"{base}/promo")
        assert shown.status_code == 200 and "2-for-1 desserts" in shown.text and "opt_out_language" in shown.text
        diagnosis = http.get("/dashboard/diagnosis", params={"live": "false"})
        assert 'data-testid="cause-templates"' in diagnosis.text and "promo v1" in diagnosis.text

        confirm = http.get(f"{base}/promo", params={"confirm": "disable"})
        refused = http.post(f"{base}/promo/disable", data={"csrf_token": "wrong", "reason": "x"})
        assert refused.status_code == 403
        done = http.post(f"{base}/promo/disable", data={"csrf_token": csrf_token(confirm), "reason": "filtered"})
        assert done.status_code == 303
        after = http.get(done.headers["location"])
        assert "Disabled: its messages are held" in after.text and "held, not dropped" in after.text
        assert http.get(f"{base}/nope").status_code == 404
    audit = stack.sql('SELECT "action", "actor", "reason" FROM "AuditLog" WHERE "tableName" = \'MessageTemplate\' '
                      'AND "action" = \'disable\'')
    assert audit == [{"action": "disable", "actor": f"dashboard:{USER}", "reason": "filtered"}]
