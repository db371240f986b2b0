"""/metrics is derived from PostgreSQL: after mixed traffic through two API servers, both
report exactly what "MessageLog" holds. Also StatsD output and the Prometheus rules file."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from smsrelay.service.operations import metrics, statsd
from smsrelay.service.runtime import Runtime
from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.web.app import create_app
from tests.support.ports import free_port
from tests.support.servers import ThreadedServer
from tests.support.waiting import wait_until

ALERTS_YML = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "smsrelay.json"
FINAL = ("delivered", "failed", "undelivered")


def scrape(url: str) -> dict[tuple, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)




def _traffic(stack, api_urls: list[str], api_key: str) -> list[str]:
    ids = []
    bodies = ["Your table is ready", "UNREACH please", "BADTO nope", "Order shipped", "UNREACH again"]
    for i, body in enumerate(bodies * 2):
        with httpx.Client(base_url=api_urls[i % 2], headers={"Authorization": f"Bearer {api_key}"}) as api:
            r = api.post("/v1/messages", json={"to": f"+1415555{2600 + i:04d}", "body": f"{body} {i}"})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
    return ids


def _traffic_one(stack, api_key: str) -> str:
    with stack.client(api_key) as api:
        return api.post("/v1/messages", json={"to": "+14155552671", "body": "one"}).json()["id"]


def test_metrics__equal_messagelog_counts_after_traffic_through_two_api_servers(stack):
    org = stack.create_org("Metrics", numbers=("+15017122661",))
    second = ThreadedServer(create_app(Runtime.create(stack.settings, stack.database_url, name="test-api-2"))).start()
    try:
        with SimulatorClient(stack.sim.url) as sim:
            sim.set_scenario("unreachable", match="UNREACH")
            sim.set_scenario("invalid_to", match="BADTO")
            ids = _traffic(stack, [stack.api_url, second.url], org["apiKey"])
            for i in range(3):
                assert sim.send_inbound(f"+1415555{3100 + i:04d}", "+15017122661", f"hello {i}")["status"] == 200
        for message_id in ids:
            stack.wait_status(message_id, set(FINAL))

        first, other = scrape(stack.api_url), scrape(second.url)
        assert _counters(first) == _counters(other) and _counters(first)

        by_status = {r["status"]: r["n"] for r in stack.sql(
            'SELECT "status", count(*) AS n FROM "MessageLog" WHERE "direction" = \'outbound\' GROUP BY 1')}
        assert set(by_status) == {"delivered", "failed", "undelivered"}  # the traffic was mixed
        for status in FINAL:
            assert value(first, "twilio_sms_outbound_total", status=status) == by_status[status], status
        assert value(first, "twilio_sms_outbound_total", status="queued") == len(ids)
        sent = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "direction" = \'outbound\' AND "sentAt" IS NOT NULL')
        assert value(first, "twilio_sms_outbound_total", status="sent") == sent[0]["n"] > 0
        inbound = stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "direction" = \'inbound\'')[0]["n"]
        assert value(first, "twilio_sms_inbound_total") == inbound == 3
        codes = stack.sql('SELECT "metadata"->>\'twilioErrorCode\' AS code, count(*) AS n FROM "MessageLog" '
                          'WHERE "status" IN (\'failed\', \'undelivered\') GROUP BY 1')
        assert {c["code"] for c in codes} == {"30003", "21211"}
        for c in codes:
            assert value(first, "twilio_sms_failed_total", error_code=c["code"]) == c["n"]
        latency = stack.sql('SELECT count(*) AS n, sum(extract(epoch FROM "finalAt" - "createdAt"))::float8 AS s '
                            'FROM "MessageLog" WHERE "status" = \'delivered\'')[0]
        assert value(first, "twilio_sms_delivery_latency_seconds_count") == latency["n"]
        assert value(first, "twilio_sms_delivery_latency_seconds_bucket", le="+Inf") == latency["n"]
        assert value(first, "twilio_sms_delivery_latency_seconds_sum") == pytest.approx(latency["s"], rel=1e-6)

        # Folding the trigger's deltas into the totals changes nothing a scraper sees.
        assert stack.run(metrics.fold_counters) > 0
        assert stack.sql('SELECT count(*) AS n FROM "MessageCounterDelta"')[0]["n"] == 0
        assert _counters(scrape(second.url)) == _counters(first)
    finally:
        second.stop()


def _counters(samples: dict[tuple, float]) -> dict[tuple, float]:
    return {k: v for k, v in samples.items() if k[0].startswith("twilio_sms_")}


def test_metrics__gauges_held_queue_balance_workers(stack):
    org = stack.create_org("Held", numbers=("+15017122662",))
    stack.sql('UPDATE "OrgSettings" SET "smsDisabled" = true WHERE "orgId" = %s', (org["id"],))
    with stack.client(org["apiKey"]) as api:
        ids = [api.post("/v1/messages", json={"to": "+14155552671", "body": f"held {i}"}).json()["id"] for i in range(2)]
    for message_id in ids:
        wait_until(lambda: (stack.message(message_id)["metadata"].get("hold") or {}).get("reason") == "org_disabled",
                   what="message held")
    stack.run(lambda rt: metrics.refresh_balance(rt, force=True))
    samples = wait_until(lambda: (s := scrape(stack.api_url)) and value(s, "smsrelay_workers_alive") >= 1 and s,
                         what="a worker heartbeat")
    assert value(samples, "smsrelay_sms_held_messages", reason="org_disabled") == 2
    assert value(samples, "smsrelay_sms_held_oldest_age_seconds", reason="org_disabled") > 0
    assert value(samples, "smsrelay_sms_queued_messages", stage="ours") == 0  # held ones are not "waiting"
    assert value(samples, "smsrelay_orgs_sms_disabled") == 1
    assert value(samples, "twilio_balance", currency="USD") == 1000.0
    assert value(samples, "smsrelay_sms_kill_switch", source="env") == 0


def metric_names_in_rules(path: Path) -> set[str]:
    rules = yaml.safe_load(path.read_text())
    names = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            names |= set(re.findall(r"\b((?:twilio|smsrelay)_[a-z_]+)\b", rule["expr"]))
    return names


def metric_names_in_dashboard(path: Path) -> set[str]:
    dashboard = json.loads(path.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    return {n for e in exprs for n in re.findall(r"\b((?:twilio|smsrelay)_[a-z_]+)\b", e)}


def test_alerts_yml_and_dashboard__every_metric_they_use_is_exported(stack):
    stack.run(lambda rt: metrics.refresh_balance(rt, force=True))
    org = stack.create_org("Names", numbers=("+15017122664",))
    with SimulatorClient(stack.sim.url) as sim:
        sim.set_scenario("invalid_to")
        stack.wait_status(_traffic_one(stack, org["apiKey"]), "failed")  # so failures have a series
    exported = {name for name, _ in scrape(stack.api_url)}
    used = metric_names_in_rules(ALERTS_YML)
    assert {"twilio_sms_outbound_total", "twilio_sms_inbound_total", "twilio_balance"} <= used
    assert used - exported == set()
    assert metric_names_in_dashboard(DASHBOARD) - exported == set()


def test_alerts_yml__promtool_check_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (CI installs Debian's prometheus package to run this check)")
    result = subprocess.run([promtool, "check", "rules", str(ALERTS_YML)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statsd__pushes_dotted_counter_deltas_and_gauges(make_stack):
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.settimeout(5)
        stack = make_stack(settings_overrides={"statsd_host": "127.0.0.1", "statsd_port": port})
        org = stack.create_org("Statsd", numbers=("+15017122663",))
        stack.run(statsd.push)  # baseline: gauges only
        baseline = sock.recv(65535).decode()
        assert "twilio.sms.outbound" not in baseline and "smsrelay.sms.queued:0|g|#stage:ours" in baseline
        with stack.client(org["apiKey"]) as api:
            ids = [api.post("/v1/messages", json={"to": "+14155552671", "body": f"hi {i}"}).json()["id"] for i in range(3)]
        for message_id in ids:
            stack.wait_status(message_id, "delivered")
        assert stack.run(statsd.push) > 0
        lines = []
        while not any(line.startswith("smsrelay.workers.alive") for line in lines):
            lines += sock.recv(65535).decode().splitlines()
    assert "twilio.sms.outbound:3|c|#status:delivered" in lines
    assert "twilio.sms.outbound:3|c|#status:queued" in lines
    assert "twilio.sms.outbound:3|c|#status:sent" in lines
    assert "twilio.sms.delivered:3|c" in lines


def test_statsd__plain_statsd_folds_tags_into_names():
    assert statsd.line("twilio.sms.outbound|status:delivered", 2, "c", tags=False) == "twilio.sms.outbound.delivered:2|c"
    assert statsd.line("twilio.sms.failed|error_code:30003", 1, "c", tags=True) == "twilio.sms.failed:1|c|#error_code:30003"
