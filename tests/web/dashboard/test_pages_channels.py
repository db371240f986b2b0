"""Issue 18: the dashboard's delivery figures filter by channel (overview, orgs, an org, error
codes): a WhatsApp failure shows under WhatsApp and not under SMS, and the orgs table shows the
channel's own switch."""

from __future__ import annotations

import re

import httpx

from smsrelay.simulator.ledger import SimulatorClient
from tests.web.dashboard.helpers import log_in, settings

WA_SENDER = "whatsapp:+14155238886"
WA_PERSON = "whatsapp:+14155552671"


def _orgs_row(html: str, name: str) -> str:
    return next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if name in row)


def test_dashboard__delivery_figures_filter_by_channel(make_stack, tmp_path):
    stack = make_stack(settings_overrides=settings(tmp_path))
    org = stack.create_org("Bistro", ("+15017122661", WA_SENDER))
    stack.stop_workers()
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        wa = api.post("/v1/messages", json={"to": WA_PERSON, "body": "Hello"}).json()
        sms = api.post("/v1/messages", json={"to": "+14155552699", "body": "fine"}).json()
    httpx.post(f"{stack.sim.url}/_sim/reset").raise_for_status()  # Twilio forgets the window: 63016
    stack.start_worker()
    stack.wait_status(wa["id"], "failed")
    stack.wait_status(sms["id"], "delivered")
    stack.sql('UPDATE "OrgSettings" SET "whatsappDisabled" = true WHERE "orgId" = %s', (org["id"],))

    with stack.client() as http:
        assert log_in(http).status_code == 303
        page = {path: http.get(path) for path in (
            "/dashboard?channel=whatsapp", "/dashboard?channel=sms", "/dashboard/fragments/overview?channel=whatsapp",
            "/dashboard/errors?channel=whatsapp", "/dashboard/errors?channel=sms", "/dashboard/errors",
            "/dashboard/orgs?channel=whatsapp", "/dashboard/orgs?channel=sms",
            f"/dashboard/orgs/{org['id']}?channel=whatsapp", f"/dashboard/orgs/{org['id']}?channel=sms")}
        for path, resp in page.items():
            assert resp.status_code == 200, (path, resp.text[:300])
        assert "63016" in page["/dashboard?channel=whatsapp"].text
        assert "63016" in page["/dashboard/fragments/overview?channel=whatsapp"].text
        assert "63016" not in page["/dashboard?channel=sms"].text
        assert "63016" in page["/dashboard/errors?channel=whatsapp"].text
        assert "63016" in page["/dashboard/errors"].text
        assert "63016" not in page["/dashboard/errors?channel=sms"].text
        assert "63016" in page[f"/dashboard/orgs/{org['id']}?channel=whatsapp"].text
        assert "63016" not in page[f"/dashboard/orgs/{org['id']}?channel=sms"].text
        # Step 4 per channel: one WhatsApp message failed (its switch off), one SMS delivered.
        wa_row = _orgs_row(page["/dashboard/orgs?channel=whatsapp"].text, "Bistro")
        sms_row = _orgs_row(page["/dashboard/orgs?channel=sms"].text, "Bistro")
        assert "disabled" in wa_row and "0.0%" in wa_row, wa_row
        assert "enabled" in sms_row and "100.0%" in sms_row, sms_row
        # The picker keeps the channel when the window changes, and the refresh asks for it.
        assert 'href="/dashboard?window=24h&amp;channel=whatsapp"' in page["/dashboard?channel=whatsapp"].text
        assert "fragments/overview?window=1h&amp;channel=whatsapp" in page["/dashboard?channel=whatsapp"].text
        assert http.get("/dashboard?channel=fax").status_code == 422
        # The diagnosis too: the WhatsApp failure is a channel cause under whatsapp only.
        wa_diag = http.get("/dashboard/diagnosis?since=1h&live=false&channel=whatsapp").text
        sms_diag = http.get("/dashboard/diagnosis?since=1h&live=false&channel=sms").text
        assert "--channel whatsapp" in wa_diag and "63016" in wa_diag and "63016" not in sms_diag
