"""The alert engine end to end: each condition staged (through the simulator where it is about
sends, with "MessageLog" rows inserted where a 15-minute history is needed), fires once,
notifies a generic webhook, Slack and PagerDuty on loopback receivers, and resolves when the
traffic recovers. Two evaluators or two schedulers at once never double-notify."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from typer.testing import CliRunner

from smsrelay.service.operations import alerts
from smsrelay.service.runtime import Runtime
from smsrelay.processes.scheduler import run_scheduler
from smsrelay.simulator.app import create_app as create_sim
from smsrelay.simulator.config import SimConfig
from smsrelay.simulator.ledger import SimulatorClient
from tests.support.servers import LoopThread, ThreadedServer
from tests.support.waiting import wait_until

ROUTING_KEY = "R0123456789abcdef0123456789abcde"
PD_SEVERITIES = {"critical", "error", "warning", "info"}


class Receivers:
    """Local stand-ins for a JSON webhook, a Slack incoming webhook and PagerDuty Events v2."""

    def __init__(self) -> None:
        self.posts: dict[str, list[dict]] = {"webhook": [], "slack": [], "pagerduty": []}
        self.lock = threading.Lock()
        app = FastAPI()

        @app.post("/{channel}")
        async def receive(channel: str, request: Request):
            body = await request.json()
            with self.lock:
                self.posts[channel].append(body)
            if channel == "pagerduty":
                return JSONResponse({"status": "success", "message": "Event processed",
                                     "dedup_key": body.get("dedup_key")}, status_code=202)
            if channel == "slack":
                return PlainTextResponse("ok")
            return {"received": True}

        self.server = ThreadedServer(app).start()

    def settings(self) -> dict:
        url = self.server.url
        return {"alert_webhook_url": f"{url}/webhook", "slack_webhook_url": f"{url}/slack",
                "pagerduty_routing_key": ROUTING_KEY, "pagerduty_events_url": f"{url}/pagerduty"}

    def events(self, channel: str) -> list[tuple[str, str]]:
        """(event, alert key) per notification received, in order."""
        out = []
        for p in self.posts[channel]:
            if channel == "webhook":
                out.append((p["event"], p["alert"]["key"]))
            elif channel == "pagerduty":
                out.append(({"trigger": "firing", "resolve": "resolved"}[p["event_action"]],
                             p["dedup_key"].removeprefix("smsrelay/")))
            else:
                out.append(("resolved" if p["text"].startswith(":white_check_mark:") else "firing",
                            p["blocks"][-1]["elements"][0]["text"].split("`")[1]))
        return out


@pytest.fixture
def receivers():
    r = Receivers()
    yield r
    r.server.stop()


def check_webhook(p: dict, settings) -> None:
    assert p["version"] == 1 and p["source"] == "smsrelay" and p["event"] in ("firing", "resolved")
    a = p["alert"]
    assert {"id", "key", "rule", "title", "severity", "orgId", "summary", "details", "firedAt"} <= set(a)
    assert p["diagnose"].startswith("smsrelay incident diagnose --since ")
    assert p["dashboard"].startswith(f"{settings.public_base_url}/dashboard")
    assert (a["orgId"] is None) or p["dashboard"].endswith(f"?org={a['orgId']}")


def check_slack(p: dict) -> None:
    assert isinstance(p["text"], str) and p["text"]
    assert [b["type"] for b in p["blocks"]] == ["header", "section", "section", "context"]
    assert p["blocks"][0]["text"]["type"] == "plain_text" and len(p["blocks"][0]["text"]["text"]) <= 150
    assert all(b["text"]["type"] == "mrkdwn" for b in p["blocks"][1:3])
    action = p["blocks"][2]["text"]["text"]
    assert "`smsrelay incident diagnose --since " in action and "|Open the dashboard>" in action


def check_pagerduty(p: dict) -> None:
    assert p["routing_key"] == ROUTING_KEY and p["dedup_key"].startswith("smsrelay/")
    if p["event_action"] == "resolve":
        assert set(p) == {"routing_key", "event_action", "dedup_key"}
        return
    assert p["event_action"] == "trigger"
    payload = p["payload"]
    assert payload["severity"] in PD_SEVERITIES and 0 < len(payload["summary"]) <= 1024
    assert payload["source"] and payload["timestamp"]
    assert payload["custom_details"]["diagnose"].startswith("smsrelay incident diagnose")
    assert p["links"][0]["href"].startswith("http://") and "/dashboard" in p["links"][0]["href"]


def check_formats(recv: Receivers, settings) -> None:
    for p in recv.posts["webhook"]:
        check_webhook(p, settings)
    for p in recv.posts["slack"]:
        check_slack(p)
    for p in recv.posts["pagerduty"]:
        check_pagerduty(p)


def runtime(stack, **overrides) -> Runtime:
    settings = stack.settings.model_copy(update=overrides) if overrides else stack.settings
    return Runtime.create(settings, stack.database_url, pool_size=3, name="test-alerts")


def run(stack, fn, **overrides):
    return stack.run(fn, **overrides)


def evaluate(stack, **overrides) -> dict:
    return run(stack, alerts.evaluate_and_notify, **overrides)


def firing(stack) -> set[str]:
    return {r["key"] for r in stack.sql('SELECT "key" FROM "Alert" WHERE "state" = \'firing\'')}


def assert_each_channel(recv: Receivers, expected: list[tuple[str, str]]) -> None:
    for channel in recv.posts:
        assert Counter(recv.events(channel)) == Counter(expected), channel


def send(stack, api_key: str, bodies: list[str]) -> list[str]:
    with stack.client(api_key) as api:
        return [api.post("/v1/messages", json={"to": f"+1415555{2700 + i:04d}", "body": b}).json()["id"]
                for i, b in enumerate(bodies)]


def test_message_failed_and_delivery_rate__fire_once_notify_and_resolve(make_stack, receivers):
    stack = make_stack(settings_overrides={**receivers.settings(), "alert_failed_min_count": 3,
                                           "alert_failed_min_share": 0.5, "alert_delivery_rate_min": 0.9,
                                           "alert_delivery_rate_min_final": 3})
    org = stack.create_org("Failing", numbers=("+15017122671",))
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("unreachable")
        for message_id in send(stack, org["apiKey"], [f"reply {i}" for i in range(4)]):
            assert stack.wait_status(message_id, "undelivered")["metadata"]["twilioErrorCode"] == "30003"
        assert evaluate(stack)["fired"]
        keys = {"twilio_message_failed", f"twilio_message_failed:{org['id']}", f"sms_delivery_rate_low:{org['id']}"}
        assert firing(stack) == keys
        evaluate(stack)  # still failing: no second notification
        assert_each_channel(receivers, [("firing", k) for k in keys])
        title = {p["alert"]["key"]: p["alert"]["title"] for p in receivers.posts["webhook"]}
        assert title["twilio_message_failed"] == "Twilio Message Failed"

        sim.clear_scenarios()  # traffic recovers: 36 delivered of 40 brings both rules under
        for message_id in send(stack, org["apiKey"], [f"fine {i}" for i in range(36)]):
            stack.wait_status(message_id, "delivered")
    assert {a["key"] for a in evaluate(stack)["resolved"]} == keys
    assert firing(stack) == set()
    evaluate(stack)
    assert_each_channel(receivers, [(e, k) for k in keys for e in ("firing", "resolved")])
    check_formats(receivers, stack.settings)


def test_outbound_flat_while_inbound_continues__fires_and_resolves_when_a_reply_goes_out(make_stack, receivers):
    stack = make_stack(settings_overrides=receivers.settings())
    org = stack.create_org("Flat", numbers=("+15017122672",))
    # Fifteen minutes of history: the last reply went out 20 min ago, inbound kept coming since.
    stack.sql("""INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "createdAt",
                                           "sentAt", "finalAt")
                 VALUES ('msg_old_reply', %(org)s, 'outbound', 'delivered', '+15017122672', '+14155550001', 'ok',
                         now() - interval '21 minutes', now() - interval '20 minutes', now() - interval '20 minutes')""",
              {"org": org["id"]})
    for minutes in (14, 10, 6, 2):
        stack.sql("""INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "createdAt")
                     VALUES (%(id)s, %(org)s, 'inbound', 'received', '+14155550001', '+15017122672', 'hello?',
                             now() - make_interval(mins => %(m)s))""",
                  {"id": f"msg_in_{minutes}", "org": org["id"], "m": minutes})
    evaluate(stack)
    evaluate(stack)
    assert firing(stack) == {"sms_outbound_flat"}
    assert_each_channel(receivers, [("firing", "sms_outbound_flat")])
    assert "twilio.sms.outbound is flat" in receivers.posts["webhook"][0]["alert"]["summary"]

    stack.wait_status(send(stack, org["apiKey"], ["Sorry for the wait"])[0], "delivered")
    evaluate(stack)
    assert firing(stack) == set()
    assert_each_channel(receivers, [("firing", "sms_outbound_flat"), ("resolved", "sms_outbound_flat")])
    check_formats(receivers, stack.settings)


def test_queue_backlog__fires_while_no_worker_runs_and_resolves_once_sent(make_stack, receivers):
    stack = make_stack(start_worker=False, settings_overrides={**receivers.settings(), "alert_backlog_seconds": 1})
    org = stack.create_org("Backlog", numbers=("+15017122673",))
    ids = send(stack, org["apiKey"], ["waiting 1", "waiting 2"])
    wait_until(lambda: evaluate(stack)["fired"], timeout=20, interval=0.3, what="backlog alert")
    assert firing(stack) == {"sms_queue_backlog"}
    stack.start_worker()
    for message_id in ids:
        stack.wait_status(message_id, "delivered")
    evaluate(stack)
    assert firing(stack) == set()
    assert_each_channel(receivers, [("firing", "sms_queue_backlog"), ("resolved", "sms_queue_backlog")])
    check_formats(receivers, stack.settings)


def test_balance_low__fires_from_the_cached_balance_and_resolves_after_a_top_up(make_stack, receivers):
    stack = make_stack(sim_overrides={"balance": "5.00"},
                       settings_overrides={**receivers.settings(), "alert_balance_min": 10.0,
                                           "balance_refresh_seconds": 0})
    result = run(stack, alerts.observability_duty)
    assert result["balance"]["balance"] == 5.0
    assert firing(stack) == {"twilio_balance_low"}
    assert "5.00 USD" in receivers.posts["webhook"][0]["alert"]["summary"]
    # Topped up: Twilio (a second simulator with the same account) now reports 1000.
    topped = ThreadedServer(create_sim(stack.settings, SimConfig(_env_file=None, balance="1000.00"))).start()
    try:
        run(stack, alerts.observability_duty, twilio_api_base=topped.url)
    finally:
        topped.stop()
    assert firing(stack) == set()
    assert_each_channel(receivers, [("firing", "twilio_balance_low"), ("resolved", "twilio_balance_low")])
    check_formats(receivers, stack.settings)


def test_mitigation_still_active__org_disable_and_kill_switch(make_stack, receivers):
    stack = make_stack(start_worker=False, settings_overrides={**receivers.settings(), "alert_mitigation_seconds": 1})
    org = stack.create_org("Mitigated", numbers=("+15017122674",))
    # The runbook's own mitigation, verbatim, plus the runtime kill switch.
    stack.sql(f"""UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = '{org['id']}'""")
    stack.sql("""INSERT INTO "SystemSetting" ("key", "value") VALUES ('sms_paused', '{"paused": true}')""")
    keys = {"sms_mitigation_active", f"sms_mitigation_active:{org['id']}"}
    wait_until(lambda: (evaluate(stack), firing(stack) == keys)[1], timeout=20, interval=0.3,
               what="mitigation alerts")
    evaluate(stack)
    stack.sql(f"""UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = '{org['id']}'""")
    stack.sql("""DELETE FROM "SystemSetting" WHERE "key" = 'sms_paused'""")
    evaluate(stack)
    assert firing(stack) == set()
    assert_each_channel(receivers, [(e, k) for k in keys for e in ("firing", "resolved")])
    check_formats(receivers, stack.settings)


def test_two_evaluators_and_two_schedulers__notify_once(make_stack, receivers):
    stack = make_stack(start_worker=False, settings_overrides={**receivers.settings(), "alert_mitigation_seconds": 0})
    org = stack.create_org("Raced", numbers=("+15017122675",))
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    key = f"sms_mitigation_active:{org['id']}"

    async def race() -> None:
        rts = [runtime(stack), runtime(stack)]
        for rt in rts:
            await rt.open()
        try:
            for _ in range(5):
                await asyncio.gather(*(alerts.evaluate_and_notify(rt) for rt in rts))
        finally:
            for rt in rts:
                await rt.close()

    asyncio.run(race())
    assert_each_channel(receivers, [("firing", key)])

    # Two whole schedulers (one leads by advisory lock) keep evaluating; still one notification,
    # and the resolution is sent once too.
    schedulers = [LoopThread(lambda: run_scheduler(runtime(stack), tick=0.1)).start() for _ in range(2)]
    try:
        stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = false WHERE "orgId" = %s', (org["id"],))
        wait_until(lambda: ("resolved", key) in receivers.events("pagerduty"), timeout=20, what="resolution")
        wait_until(lambda: not stack.sql('SELECT 1 FROM "AlertNotification" WHERE "sentAt" IS NULL'), what="all sent")
    finally:
        for s in schedulers:
            s.stop()
    assert_each_channel(receivers, [("firing", key), ("resolved", key)])
    assert stack.sql('SELECT count(*) AS n FROM "Alert"')[0]["n"] == 1


def test_cli__alerts_list_and_test(make_stack, receivers, monkeypatch):
    from smsrelay.cli import app
    from smsrelay.settings import get_settings

    stack = make_stack(start_worker=False, settings_overrides={**receivers.settings(), "alert_mitigation_seconds": 0})
    org = stack.create_org("Cli", numbers=("+15017122676",))
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    evaluate(stack)
    env = {"DATABASE_URL": stack.database_url, "ALERT_WEBHOOK_URL": f"{receivers.server.url}/webhook",
           "SLACK_WEBHOOK_URL": f"{receivers.server.url}/slack", "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
           "PAGERDUTY_EVENTS_URL": f"{receivers.server.url}/pagerduty", "PUBLIC_BASE_URL": stack.settings.public_base_url}
    for name, val in env.items():
        monkeypatch.setenv(name, val)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        listed = runner.invoke(app, ["alerts", "list", "--json"])
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.stdout)  # stderr names the database read
        assert [r["key"] for r in rows] == [f"sms_mitigation_active:{org['id']}"]
        assert {(n["channel"], n["event"]) for n in rows[0]["notifications"]} == \
            {("webhook", "firing"), ("slack", "firing"), ("pagerduty", "firing")}
        tested = runner.invoke(app, ["alerts", "test"])
        assert tested.exit_code == 0, tested.output
        assert "pagerduty resolved: ok" in tested.output
    finally:
        get_settings.cache_clear()
    assert ("firing", "test") in receivers.events("webhook") and ("resolved", "test") in receivers.events("pagerduty")
    check_formats(receivers, stack.settings)


def test_channel_rules__whatsapp_failures_page_their_own_alert_not_the_runbooks_sms_one(make_stack, receivers):
    stack = make_stack(settings_overrides={**receivers.settings(), "alert_failed_min_count": 3,
                                           "alert_failed_min_share": 0.5, "alert_delivery_rate_min": 0.9,
                                           "alert_delivery_rate_min_final": 3})
    wa_sender, person = "whatsapp:+14155238886", "whatsapp:+14155552601"
    org = stack.create_org("Bistro", numbers=("+15017122671", wa_sender))
    with SimulatorClient(stack.sim.url) as sim, stack.client(org["apiKey"]) as api:
        assert sim.send_inbound(person, wa_sender, "hi")["status"] == 200
        sim.set_scenario("unreachable", match="UNREACHABLE")
        wa = [api.post("/v1/messages", json={"to": person, "body": f"UNREACHABLE {i}"}).json()["id"] for i in range(4)]
        sms = send(stack, org["apiKey"], [f"fine {i}" for i in range(4)])
        for message_id in wa:
            stack.wait_status(message_id, "undelivered")
        for message_id in sms:
            stack.wait_status(message_id, "delivered")
    evaluate(stack)
    keys = {"channel_messages_failed:whatsapp", f"channel_messages_failed:whatsapp:{org['id']}",
            f"channel_delivery_rate_low:whatsapp:{org['id']}"}
    assert firing(stack) == keys  # "Twilio Message Failed" and "SMS delivery rate low" stay SMS-only
    assert_each_channel(receivers, [("firing", k) for k in keys])
    posted = {p["alert"]["key"]: p for p in receivers.posts["webhook"]}
    assert posted["channel_messages_failed:whatsapp"]["alert"]["title"] == "Channel Messages Failed"
    assert posted["channel_messages_failed:whatsapp"]["diagnose"].endswith("--channel whatsapp")
    check_formats(receivers, stack.settings)
