"""Deliveries are observable: per-org metrics by outcome and latency, and an alert once an org's
endpoint has been failing for ALERT_WEBHOOK_FAILING_SECONDS (15 min by default)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smsrelay.domain import alert_rules
from smsrelay.service.operations import alerts
from tests.support.event_receiver import EventReceiver
from tests.support.waiting import wait_until

PROMETHEUS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
FAST = {"webhook_retry_base_seconds": 0.05, "webhook_retry_max_seconds": 0.2, "webhook_poll_seconds": 0.05,
        "webhook_failing_after": 2}


def _samples(url: str) -> dict[tuple, float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_and_alert__per_org_outcomes_latency_and_a_failing_endpoint(make_stack):
    down, up = EventReceiver(status=500).start(), EventReceiver().start()
    try:
        stack = make_stack(settings_overrides=FAST)
        bad, good = stack.create_org("Bad", numbers=("+15017122661",)), stack.create_org("Good", numbers=("+15017122662",))
        for org, receiver in ((bad, down), (good, up)):
            with stack.client(org["apiKey"]) as api:
                api.patch("/v1/webhooks", json={"statusUrl": receiver.url})
                assert api.post("/v1/webhooks/test").status_code == 202
        wait_until(lambda: len(down.hits) >= 3 and up.delivered(), timeout=15, what="attempts at both endpoints")
        samples = _samples(stack.api_url)
        key = lambda name, **labels: (name, tuple(sorted(labels.items())))  # noqa: E731
        assert samples[key("smsrelay_webhook_deliveries_total", org=good["id"], outcome="delivered")] >= 1
        assert samples[key("smsrelay_webhook_deliveries_total", org=bad["id"], outcome="http_error")] >= 3
        assert samples[key("smsrelay_webhook_delivery_latency_seconds_count", org=good["id"])] >= 1
        assert samples[key("smsrelay_webhook_endpoint_failing_seconds", org=bad["id"])] >= 0
        assert samples[key("smsrelay_webhook_endpoint_failing_seconds", org=good["id"])] == 0
        assert samples[key("smsrelay_webhook_events_pending", org=bad["id"])] == 1

        changed = stack.run(alerts.evaluate, alert_webhook_failing_seconds=0)
        fired = [a for a in changed["fired"] if a["rule"] == alert_rules.WEBHOOK_FAILING]
        assert [a["orgId"] for a in fired] == [bad["id"]]
        assert fired[0]["title"] == "Org webhook endpoint failing" and "1 events wait" in fired[0]["summary"]
        # Fifteen minutes is the default: a failure of a few seconds alerts nobody.
        assert not [a for a in stack.run(alerts.evaluate)["fired"] if a["rule"] == alert_rules.WEBHOOK_FAILING]
    finally:
        down.stop()
        up.stop()


def test_webhook_rule__fires_at_the_threshold_only():
    t = alert_rules.Thresholds()
    now = datetime.now(timezone.utc)
    facts = alert_rules.Facts(failing_webhooks={"org_a": (899.0, 3), "org_b": (900.0, 7)})
    found = [f for f in alert_rules.evaluate(facts, t, now) if f.rule == alert_rules.WEBHOOK_FAILING]
    assert [(f.org_id, f.details["pending"]) for f in found] == [("org_b", 7)]


def test_webhook_alert_rule__promtool_unit_test():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (CI installs Debian's prometheus package to run this check)")
    result = subprocess.run([promtool, "test", "rules", str(PROMETHEUS / "webhooks_test.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
