"""Issue 18 tied to issue 17: a message template may carry its WhatsApp content template (an
approved ContentSid and which placeholder fills each content variable). A send by that template
on WhatsApp goes as free text within the person's 24-hour window, and outside it as the content
template with its ContentVariables filled from the same variables (never with a Body, which
Twilio refuses beside ContentVariables: 35127); a template without one is refused outside it."""

from __future__ import annotations

import json

from smsrelay.simulator.ledger import SimulatorClient

WA_SENDER = "whatsapp:+14155238886"
WA_PERSON = "whatsapp:+14155552671"
WA_STRANGER = "whatsapp:+14155552672"
BODY = "Hi {{name}}, your table for {{party_size:int}} is ready."
CONTENT_SID = "HX" + "d" * 32


def test_template_with_whatsapp_content__free_text_in_the_window_content_template_outside(stack):
    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound(WA_PERSON, WA_SENDER, "Table for 4?")["status"] == 200
    with stack.client(org["apiKey"]) as api:
        created = api.post("/v1/templates", json={"name": "table_ready", "body": BODY, "whatsapp": {
            "contentSid": CONTENT_SID, "variables": {"1": "name", "2": "party_size"}}})
        assert created.status_code == 201, created.text
        assert created.json()["whatsapp"] == {"contentSid": CONTENT_SID, "variables": {"1": "name", "2": "party_size"}}
        plain = api.post("/v1/templates", json={"name": "promo", "body": "Hi {{name}}, 2-for-1 tonight."})
        assert plain.status_code == 201 and plain.json()["whatsapp"] is None
        variables = {"name": "Ada", "party_size": 4}

        inside = api.post("/v1/messages", json={"to": WA_PERSON, "template": "table_ready", "variables": variables})
        assert inside.status_code == 202, inside.text
        assert inside.json()["channel"] == "whatsapp" and inside.json().get("contentSid") is None
        outside = api.post("/v1/messages", json={"to": WA_STRANGER, "template": "table_ready", "variables": variables})
        assert outside.status_code == 202, outside.text
        assert outside.json()["contentSid"] == CONTENT_SID
        closed = api.post("/v1/messages", json={"to": WA_STRANGER, "template": "promo", "variables": {"name": "Ada"}})
        assert closed.status_code == 422 and closed.json()["error"]["code"] == "whatsapp_window_closed", closed.text
        # The same in a batch, item by item.
        batch = api.post("/v1/messages:batch", json={"messages": [
            {"to": "whatsapp:+14155552673", "template": "table_ready", "variables": {"name": "Bo", "party_size": 2}},
            {"to": "whatsapp:+14155552673", "template": "promo", "variables": {"name": "Bo"}}]}).json()
        assert batch["results"][0]["contentSid"] == CONTENT_SID
        assert batch["results"][1]["error"]["code"] == "whatsapp_window_closed"

        for sent in (inside.json(), outside.json(), batch["results"][0]):
            stack.wait_status(sent["id"], "read")
        stored = stack.message(outside.json()["id"])
    assert stored["content"] == "Hi Ada, your table for 4 is ready."  # the record keeps the text
    assert stored["metadata"]["contentSid"] == CONTENT_SID and stored["metadata"]["template"] == "table_ready"
    assert stored["metadata"]["contentVariables"] == {"1": "Ada", "2": "4"}
    assert "whatsappContent" not in stored["metadata"]
    with SimulatorClient(stack.sim.url) as sim:
        by_to = {m["to"]: m for m in sim.ledger()}
    assert by_to[WA_PERSON]["body"] == "Hi Ada, your table for 4 is ready." and by_to[WA_PERSON]["content_sid"] is None
    assert by_to[WA_STRANGER]["content_sid"] == CONTENT_SID and by_to[WA_STRANGER]["body"] == ""
    assert json.loads(by_to[WA_STRANGER]["content_variables"]) == {"1": "Ada", "2": "4"}
    assert by_to["whatsapp:+14155552673"]["content_sid"] == CONTENT_SID


def test_template_whatsapp_content__checked_versioned_and_removable(stack):
    org = stack.create_org(numbers=(WA_SENDER,))
    with stack.client(org["apiKey"]) as api:
        for whatsapp, words in (({"contentSid": "HX12"}, "contentSid"),
                                ({"contentSid": CONTENT_SID, "variables": {"1": "surname"}}, "surname"),
                                ({"contentSid": CONTENT_SID, "variables": {"1 2": "name"}}, "content variable")):
            bad = api.post("/v1/templates", json={"name": "t", "body": BODY, "whatsapp": whatsapp})
            assert bad.status_code == 422 and bad.json()["error"]["code"] in ("invalid_template", "invalid_request")
            assert words in bad.text, bad.text
        assert api.post("/v1/templates", json={"name": "t", "body": BODY}).status_code == 201
        added = api.patch("/v1/templates/t", json={"whatsapp": {"contentSid": CONTENT_SID, "variables": {"1": "name"}}})
        assert added.status_code == 200 and added.json()["version"] == 2, added.text
        # A new body keeps the content; one that drops a mapped placeholder is refused.
        kept = api.patch("/v1/templates/t", json={"body": "Hello {{name}}, {{party_size:int}} seats."}).json()
        assert kept["version"] == 3 and kept["whatsapp"]["contentSid"] == CONTENT_SID
        dropped = api.patch("/v1/templates/t", json={"body": "Hello, your table is ready."})
        assert dropped.status_code == 422 and "name" in dropped.json()["error"]["message"]
        removed = api.patch("/v1/templates/t", json={"whatsapp": None}).json()
        assert removed["version"] == 4 and removed["whatsapp"] is None
        versions = api.get("/v1/templates/t").json()["versions"]
    assert [v["whatsapp"] and v["whatsapp"]["contentSid"] for v in versions] == [None, CONTENT_SID, CONTENT_SID, None]
