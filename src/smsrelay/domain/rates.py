"""What "rate" means wherever smsrelay shows one: the CLI, the dashboard, alerts and reports.

**Delivery rate** = delivered ÷ final outbound messages, where *final* is delivered (or read) +
failed + undelivered. A message still on its way (queued, sending, sent, accepted, scheduled)
is in neither count: an hour whose messages are still in flight is not a bad hour. None when no
message is final yet ("–", never 0 % or 100 %). The failure share shown beside it is 1 − the
delivery rate, over the same final messages.

The dashboard used delivered ÷ final while the CLI's "rate" column was failed ÷ every outbound
message, open ones included, so the same org read 60 % on one and 90 % on the other.
"""

from __future__ import annotations

DELIVERED = ("delivered", "read")
FAILED = ("failed", "undelivered")


def delivery_rate(delivered: int, final: int) -> float | None:
    """delivered ÷ final, None when nothing is final."""
    return delivered / final if final else None


def failure_share(delivered: int, final: int) -> float | None:
    rate = delivery_rate(delivered, final)
    return None if rate is None else 1 - rate
