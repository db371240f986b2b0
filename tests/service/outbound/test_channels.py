"""MMS and WhatsApp through the one pipeline: accept, dispatch, the simulator's callbacks; the
WhatsApp window refused before Twilio; per-channel org switches."""

from __future__ import annotations

import httpx

from smsrelay.simulator.ledger import SimulatorClient

IMAGES = ["https://cdn.example.com/menu/front.jpg", "https://cdn.example.com/menu/back.png"]
WA_SENDER = "whatsapp:+14155238886"
WA_PERSON = "whatsapp:+14155552671"
TEMPLATE = "HX" + "b" * 32


def _events(stack, message_id):
    return [e["status"] for e in stack.sql(
        'SELECT "status" FROM "MessageEvent" WHERE "messageId" = %s ORDER BY "receivedAt", "id"', (message_id,))]


def test_mms__two_images_delivered_as_one_mms_with_its_media(stack):
    org = stack.create_org(numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        sent = api.post("/v1/messages", json={"to": "+14155552671", "body": "Tonight's menu", "mediaUrls": IMAGES})
        assert sent.status_code == 202, sent.text
        body = sent.json()
        assert body["channel"] == "mms" and body["mediaUrls"] == IMAGES and body["segments"] == 1
        stack.wait_status(body["id"], "delivered")
        got = api.get(f"/v1/messages/{body['id']}").json()
    assert got["channel"] == "mms" and got["mediaUrls"] == IMAGES
    row = stack.message(body["id"])
    assert row["channel"] == "mms" and row["twilioSid"].startswith("MM")
    with SimulatorClient(stack.sim.url) as sim:
        [copy] = sim.ledger(to="+14155552671")
    assert copy["num_media"] == 2 and copy["channel"] == "mms"


def test_mms__media_urls_checked_in_form_before_anything_is_stored(stack):
    org = stack.create_org(numbers=("+15017122661",))
    cases = [
        ({"mediaUrls": ["http://cdn.example.com/a.jpg"]}, "invalid_media"),
        ({"mediaUrls": ["https://127.0.0.1/a.jpg"]}, "invalid_media"),
        ({"mediaUrls": ["https://user:pw@cdn.example.com/a.jpg"]}, "invalid_media"),
        ({"mediaUrls": ["https://cdn.example.com/app.exe"]}, "unsupported_media_file"),
        ({"mediaUrls": [f"https://cdn.example.com/{i}.jpg" for i in range(11)]}, "invalid_request"),
    ]
    with stack.client(org["apiKey"]) as api:
        for extra, code in cases:
            answer = api.post("/v1/messages", json={"to": "+14155552671", "body": "x", **extra})
            assert answer.status_code == 422 and answer.json()["error"]["code"] == code, (extra, answer.text)
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
        # A message with media is an MMS whatever channel was asked for.
        asked_sms = api.post("/v1/messages", json={"to": "+14155552671", "mediaUrls": IMAGES[:1], "channel": "sms"})
    assert asked_sms.status_code == 202 and asked_sms.json()["channel"] == "mms"
    assert stack.message(asked_sms.json()["id"])["content"] == ""


def test_whatsapp__reply_within_the_window_is_delivered_then_read(stack):
    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    with SimulatorClient(stack.sim.url) as sim:
        assert sim.send_inbound(WA_PERSON, WA_SENDER, "Is my table ready?")["status"] == 200
    inbound = stack.sql('SELECT "channel", "from" FROM "MessageLog" WHERE "direction" = \'inbound\'')
    assert inbound == [{"channel": "whatsapp", "from": WA_PERSON}]
    with stack.client(org["apiKey"]) as api:
        sent = api.post("/v1/messages", json={"to": WA_PERSON, "body": "Yes, come in!"})
        assert sent.status_code == 202, sent.text
        assert sent.json()["channel"] == "whatsapp" and sent.json()["from"] == WA_SENDER
        stack.wait_status(sent.json()["id"], "read")
        history = [h["status"] for h in api.get(f"/v1/messages/{sent.json()['id']}").json()["history"]]
    assert history == ["sent", "delivered", "read"]


def test_whatsapp__free_text_outside_the_window_is_refused_and_a_template_goes(stack):
    org = stack.create_org(numbers=(WA_SENDER,))
    with stack.client(org["apiKey"]) as api:
        refused = api.post("/v1/messages", json={"to": WA_PERSON, "body": "Hello again"})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "whatsapp_window_closed" and error["twilioEquivalent"] == 63016
        assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
        templated = api.post("/v1/messages", json={"to": WA_PERSON, "channel": "whatsapp", "contentSid": TEMPLATE,
                                                   "contentVariables": {"1": "Ada"}})
        assert templated.status_code == 202, templated.text
        stack.wait_status(templated.json()["id"], "read")


def test_whatsapp__the_simulator_fails_free_text_outside_the_window_with_63016(stack):
    """What Twilio does when the window check is bypassed (a message accepted just before the
    window closed): the worker's send is accepted, then fails with 63016 on its callback."""
    org = stack.create_org(numbers=(WA_SENDER,))
    stack.stop_workers()
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        sent = api.post("/v1/messages", json={"to": WA_PERSON, "body": "Hello"}).json()
    httpx.post(f"{stack.sim.url}/_sim/reset").raise_for_status()  # Twilio's side forgets the window
    stack.start_worker()
    row = stack.wait_status(sent["id"], {"failed", "read"})
    assert row["status"] == "failed" and row["metadata"]["twilioErrorCode"] == "63016"


def test_channels__an_org_without_a_whatsapp_sender_and_mixed_channels_are_refused(stack):
    org = stack.create_org(numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api:
        none = api.post("/v1/messages", json={"to": WA_PERSON, "body": "hi"})
        assert none.status_code == 422 and none.json()["error"]["code"] == "no_channel_sender"
        mixed = api.post("/v1/messages", json={"to": WA_PERSON, "body": "hi", "channel": "mms"})
        assert mixed.status_code == 422 and mixed.json()["error"]["code"] == "invalid_channel"


def test_channels__whatsapp_disabled_holds_whatsapp_while_sms_goes(stack):
    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    stack.sql('UPDATE "OrgSettings" SET "whatsappDisabled" = true WHERE "orgId" = %s', (org["id"],))
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        wa = api.post("/v1/messages", json={"to": WA_PERSON, "body": "held"}).json()
        sms = api.post("/v1/messages", json={"to": "+14155552671", "body": "goes"}).json()
    # The 202 says so per channel: the WhatsApp switch holds the WhatsApp message only.
    assert wa["held"]["reason"] == "org_disabled" and "held" not in sms, (wa, sms)
    stack.wait_status(sms["id"], "delivered")
    from tests.support.waiting import wait_until
    held = wait_until(lambda: (m := stack.message(wa["id"]))["metadata"].get("hold") and m, timeout=20,
                      what="the WhatsApp message to be held")
    assert held["metadata"]["hold"]["reason"] == "org_disabled" and held["twilioSid"] is None
    stack.sql('UPDATE "OrgSettings" SET "whatsappDisabled" = false WHERE "orgId" = %s', (org["id"],))
    stack.wait_status(wa["id"], "read", timeout=30)


def test_metrics__channel_label_while_twilio_sms_outbound_stays_sms_only(stack):
    from tests.service.operations.test_metrics import scrape, value

    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json=m).json()["id"] for m in (
            {"to": "+14155552671", "body": "sms"}, {"to": "+14155552672", "mediaUrls": IMAGES},
            {"to": WA_PERSON, "body": "wa"})]
        scheduled = api.post("/v1/messages", json={"to": "+14155552673", "body": "later",
                                                   "sendAt": "2099-01-01T00:00:00Z"})
        assert scheduled.status_code == 422  # beyond 35 days
    for message_id, final in zip(ids, ("delivered", "delivered", "read")):
        stack.wait_status(message_id, final)
    samples = scrape(stack.api_url)
    assert value(samples, "twilio_sms_outbound_total", status="delivered") == 1
    for channel in ("sms", "mms", "whatsapp"):
        assert value(samples, "smsrelay_messages_total", direction="outbound", channel=channel, status="delivered") == 1
    assert value(samples, "smsrelay_messages_total", direction="outbound", channel="whatsapp", status="read") == 1
    assert value(samples, "smsrelay_messages_total", direction="inbound", channel="whatsapp", status="received") == 1
    assert value(samples, "twilio_sms_inbound_total") == 0


def test_incident__failures_errors_and_diagnosis_scope_to_a_channel(stack):
    """A WhatsApp failure (63016 from Twilio) shows under --channel whatsapp and not under sms."""
    import json
    import subprocess
    import sys

    from smsrelay.service.operations import incident

    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    stack.stop_workers()
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        wa = api.post("/v1/messages", json={"to": WA_PERSON, "body": "Hello"}).json()
        sms = api.post("/v1/messages", json={"to": "+14155552671", "body": "fine"}).json()
    httpx.post(f"{stack.sim.url}/_sim/reset").raise_for_status()
    stack.start_worker()
    stack.wait_status(wa["id"], "failed")
    stack.wait_status(sms["id"], "delivered")
    whatsapp = stack.run(lambda rt: incident.diagnose(rt, "1h", live=False, channel="whatsapp"))
    only_sms = stack.run(lambda rt: incident.diagnose(rt, "1h", live=False, channel="sms"))
    assert whatsapp["causes"][0]["cause"] == "channel", whatsapp["causes"][0]
    assert "channel" not in {c["cause"] for c in only_sms["causes"]}
    env = {"DATABASE_URL": stack.database_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "smsrelay", "incident", "failures", "--channel", "whatsapp", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    failures = json.loads(out.stdout)["failures"]
    assert [(f["id"], f["channel"], f["errorCode"]) for f in failures] == [(wa["id"], "whatsapp", "63016")]
    bad = subprocess.run([sys.executable, "-m", "smsrelay", "incident", "errors", "--channel", "fax"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "channel" in bad.stderr

    # Steps 1 and 4 per channel: the WhatsApp failure alone under whatsapp, the SMS alone under sms,
    # and the org's WhatsApp switch beside its figures.
    stack.sql('UPDATE "OrgSettings" SET "whatsappDisabled" = true WHERE "orgId" = %s', (org["id"],))

    def cli(*args: str) -> dict:
        done = subprocess.run([sys.executable, "-m", "smsrelay", "incident", *args, "--json"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    wa_status, sms_status, every = cli("status", "--channel", "whatsapp"), cli("status", "--channel", "sms"), cli("status")
    assert (wa_status["channel"], wa_status["total"], wa_status["failed"]) == ("whatsapp", 1, 1)
    assert (sms_status["total"], sms_status["failed"], sms_status["deliveryRate"]) == (1, 0, 1.0)
    assert every["total"] == 2 and every["channel"] is None
    [wa_org] = cli("orgs", "--channel", "whatsapp")["orgs"]
    [sms_org] = cli("orgs", "--channel", "sms")["orgs"]
    assert (wa_org["total"], wa_org["failed"], wa_org["disabled"], wa_org["smsDisabled"]) == (1, 1, True, False)
    assert (sms_org["total"], sms_org["delivered"], sms_org["disabled"]) == (1, 1, False)


def test_channels__enabling_one_channel_releases_only_its_holds(stack):
    from tests.support.waiting import wait_until

    org = stack.create_org(numbers=("+15017122661", WA_SENDER))
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true, "whatsappDisabled" = true WHERE "orgId" = %s',
              (org["id"],))
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound(WA_PERSON, WA_SENDER, "hi")
    with stack.client(org["apiKey"]) as api:
        wa = api.post("/v1/messages", json={"to": WA_PERSON, "body": "wa"}).json()
        sms = api.post("/v1/messages", json={"to": "+14155552671", "body": "sms"}).json()
    for m in (wa, sms):
        wait_until(lambda: stack.message(m["id"])["metadata"].get("hold"), timeout=20, what="held")
    stack.sql('UPDATE "OrgSettings" SET "whatsappDisabled" = false WHERE "orgId" = %s', (org["id"],))
    stack.wait_status(wa["id"], "read", timeout=30)
    row = stack.message(sms["id"])
    assert row["status"] == "queued" and row["metadata"]["hold"]["reason"] == "org_disabled"
