"""Message counters by channel for /metrics: `smsrelay_messages_total{direction, channel, status}`.

"MessageCounter" names SMS counters by direction ('outbound', 'inbound': what twilio_sms_* and
the runbook's twilio.sms.outbound read, so they stay SMS-only) and the other channels
'outbound:mms', 'outbound:whatsapp', … (migration 0023's smsrelay_counter_name). This family
puts them side by side, so a dashboard or an alert can scope to one channel."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily

from smsrelay.domain import channels

DIRECTIONS = ("outbound", "inbound")


def split(name: str) -> tuple[str, str] | None:
    """(direction, channel) of a counter name; None for counters that are not messages (latency)."""
    direction, _, channel = name.partition(":")
    if direction not in DIRECTIONS:
        return None
    channel = channel or channels.SMS
    return (direction, channel) if channel in channels.CHANNELS else None


def family(counters: Iterable[dict[str, Any]], org_labels: list[str],
           org_of: Callable[[dict[str, Any]], tuple]) -> CounterMetricFamily:
    metric = CounterMetricFamily("smsrelay_messages", "Messages that reached each status, by direction and channel "
                                 "(sms, mms, whatsapp); twilio_sms_* count SMS only",
                                 labels=["direction", "channel", "status", *org_labels])
    totals: dict[tuple, int] = {}
    for r in counters:
        parts = split(r["name"])
        if parts is None:
            continue
        key = (*parts, r["status"], *org_of(r))
        totals[key] = totals.get(key, 0) + r["count"]
    if not org_labels:  # every channel has a series from the first scrape
        for channel in channels.CHANNELS:
            totals.setdefault(("outbound", channel, "delivered"), 0)
    for key, value in sorted(totals.items()):
        metric.add_metric(list(key), value)
    return metric
