"""Alert rules over aggregated facts: pure, no clock, no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsrelay.domain import alert_rules as r
from smsrelay.domain.alert_rules import Facts, Thresholds

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
T = Thresholds(failed_min_count=10, failed_min_share=0.2, delivery_rate_min=0.9, delivery_rate_min_final=20)


def keys(facts: Facts, t: Thresholds = T) -> set[str]:
    return {f.key for f in r.evaluate(facts, t, NOW)}


def test_healthy_traffic__no_alert():
    assert keys(Facts(failed_window={"org_a": {"delivered": 100, "undelivered": 2}},
                      delivery_window={"org_a": {"delivered": 100, "undelivered": 2}},
                      inbound_in_window=50, inbound_recent=10, sent_in_window=80, balance=500.0)) == set()


def test_message_failed__needs_both_count_and_share():
    many_but_small_share = {"org_a": {"delivered": 200, "failed": 12}}
    few_but_high_share = {"org_a": {"failed": 5, "delivered": 1}}
    assert keys(Facts(failed_window=many_but_small_share)) == set()
    assert keys(Facts(failed_window=few_but_high_share)) == set()
    assert keys(Facts(failed_window={"org_a": {"failed": 6, "undelivered": 6, "delivered": 10}})) == \
        {"twilio_message_failed", "twilio_message_failed:org_a"}


def test_message_failed__global_fires_when_no_single_org_crosses():
    facts = Facts(failed_window={"org_a": {"failed": 6, "delivered": 2}, "org_b": {"undelivered": 6, "delivered": 2}})
    assert keys(facts) == {"twilio_message_failed"}
    finding = r.evaluate(facts, T, NOW)[0]
    assert finding.title == "Twilio Message Failed" and finding.severity == "critical"
    assert finding.details["failed"] == 6 and finding.details["undelivered"] == 6


def test_outbound_flat__only_while_inbound_keeps_arriving():
    assert keys(Facts(inbound_in_window=5, inbound_recent=1, sent_in_window=0)) == {"sms_outbound_flat"}
    assert keys(Facts(inbound_in_window=5, inbound_recent=0, sent_in_window=0)) == set()  # inbound stopped too
    assert keys(Facts(inbound_in_window=5, inbound_recent=1, sent_in_window=1)) == set()
    assert keys(Facts(inbound_in_window=2, inbound_recent=1, sent_in_window=0)) == set()  # too little to say


def test_delivery_rate_low__per_org_with_a_minimum_of_final_messages():
    low = {"org_a": {"delivered": 15, "undelivered": 10}, "org_b": {"delivered": 5, "failed": 5}}
    assert keys(Facts(delivery_window=low)) == {"sms_delivery_rate_low:org_a"}
    assert keys(Facts(delivery_window={"org_a": {"delivered": 18, "read": 9, "failed": 3, "queued": 50}})) == set()


def test_queue_backlog__oldest_age_over_threshold():
    assert keys(Facts(oldest_queued_age_seconds=301, queued_count=4)) == {"sms_queue_backlog"}
    assert keys(Facts(oldest_queued_age_seconds=299, queued_count=4)) == set()
    assert keys(Facts(oldest_queued_age_seconds=None)) == set()


def test_balance_low__under_threshold_or_short_runway():
    assert keys(Facts(balance=19.0)) == {"twilio_balance_low"}
    assert keys(Facts(balance=100.0, spend_per_hour=5.0)) == {"twilio_balance_low"}  # 20 h of runway
    assert keys(Facts(balance=100.0, spend_per_hour=4.0)) == set()  # 25 h
    assert keys(Facts(balance=None)) == set()
    assert r.evaluate(Facts(balance=-1.0), T, NOW)[0].severity == "critical"


def test_spend_per_hour__from_samples_since_the_last_top_up():
    t0 = NOW - timedelta(hours=3)
    samples = [(t0, 50.0), (t0 + timedelta(hours=1), 40.0), (t0 + timedelta(hours=2), 500.0),
               (t0 + timedelta(hours=3), 494.0)]
    assert r.spend_per_hour(samples) == 6.0
    assert r.spend_per_hour(samples[:1]) is None
    assert r.spend_per_hour([(NOW - timedelta(minutes=1), 10.0), (NOW, 9.0)]) is None  # too short to say
    assert r.runway_hours(100.0, 4.0) == 25.0 and r.runway_hours(100.0, 0.0) is None


def test_mitigation_active__after_the_threshold_only():
    facts = Facts(disabled_orgs={"org_a": NOW - timedelta(hours=2), "org_b": NOW - timedelta(minutes=5)},
                  paused_since=NOW - timedelta(minutes=61))
    assert keys(facts) == {"sms_mitigation_active", "sms_mitigation_active:org_a"}


def test_every_rule_has_a_title_and_findings_carry_it():
    assert set(r.TITLES) == set(r.RULES) and len(r.RULES) == 10
    assert r.TITLES[r.FLAT] == "SMS outbound flat while inbound continues"


def test_channel_rules__whatsapp_failures_have_their_own_alert_and_leave_the_runbooks_sms_only():
    failing = {"org_a": {"failed": 12, "delivered": 3}}
    facts = Facts(failed_window={"org_a": {"delivered": 100}}, channel_failed_window={"whatsapp": failing},
                  channel_delivery_window={"whatsapp": {"org_a": {"read": 10, "delivered": 5, "failed": 12}}})
    found = {f.key: f for f in r.evaluate(facts, T, NOW)}
    assert set(found) == {"channel_messages_failed:whatsapp", "channel_messages_failed:whatsapp:org_a",
                          "channel_delivery_rate_low:whatsapp:org_a"}
    one = found["channel_messages_failed:whatsapp"]
    assert one.title == "Channel Messages Failed" and one.details["channel"] == "whatsapp"
    assert "WhatsApp messages" in one.summary and "SMS" not in one.summary
    # The same counts as SMS page the runbook's alert, and no channel rule.
    as_sms = keys(Facts(failed_window=failing, delivery_window={"org_a": {"delivered": 5, "failed": 20}}))
    assert as_sms == {"twilio_message_failed", "twilio_message_failed:org_a", "sms_delivery_rate_low:org_a"}
    # MMS and WhatsApp are scoped apart: one failing channel does not page for the other.
    assert keys(Facts(channel_failed_window={"mms": failing, "whatsapp": {"org_a": {"delivered": 40}}})) == \
        {"channel_messages_failed:mms", "channel_messages_failed:mms:org_a"}
