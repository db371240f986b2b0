"""Alert notifications: a generic JSON webhook, a Slack incoming webhook, PagerDuty Events v2.

Every message names the command that starts the investigation and links the dashboard, so the
person paged can act from the notification alone. Who sends what is decided in alerts.py
(one claim per alert, channel and event); this module only formats and posts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from smsrelay.settings import Settings

RUNBOOK = "runbook/messaging-failures-twilio.md"
# PagerDuty's severities are ours; Slack gets an emoji for a glance in a busy channel.
_EMOJI = {"critical": ":rotating_light:", "error": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}


def channels(settings: Settings) -> list[str]:
    configured = {"webhook": settings.alert_webhook_url, "slack": settings.slack_webhook_url,
                  "pagerduty": settings.pagerduty_routing_key}
    return [name for name, value in configured.items() if value]


def dashboard_link(settings: Settings, alert: dict[str, Any]) -> str:
    base = settings.dashboard_url or f"{settings.public_base_url.rstrip('/')}/dashboard"
    return f"{base}?org={quote(alert['orgId'])}" if alert.get("orgId") else base


def diagnose_command(alert: dict[str, Any]) -> str:
    # Look back over the rule's own window, rounded up to whole minutes, and a bit more.
    details = alert.get("details") or {}
    window = int(details.get("windowSeconds") or 3600)
    # A channel's own rule (MMS, WhatsApp) starts the diagnosis on that channel.
    channel = f" --channel {details['channel']}" if details.get("channel") else ""
    return f"smsrelay incident diagnose --since {max(15, -(-window // 60) * 2)}m{channel}"


def dedup_key(alert: dict[str, Any]) -> str:
    return f"smsrelay/{alert['key']}"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None and hasattr(value, "isoformat") else value


def webhook_payload(settings: Settings, alert: dict[str, Any], event: str) -> dict[str, Any]:
    return {
        "version": 1,
        "source": "smsrelay",
        "event": event,
        "alert": {
            "id": alert["id"], "key": alert["key"], "rule": alert["rule"], "title": alert["title"],
            "severity": alert["severity"], "orgId": alert.get("orgId"), "summary": alert["summary"],
            "details": alert.get("details") or {}, "state": alert["state"],
            "firedAt": _iso(alert["firedAt"]), "resolvedAt": _iso(alert.get("resolvedAt")),
        },
        "diagnose": diagnose_command(alert),
        "dashboard": dashboard_link(settings, alert),
        "runbook": RUNBOOK,
    }


def slack_payload(settings: Settings, alert: dict[str, Any], event: str) -> dict[str, Any]:
    dash = dashboard_link(settings, alert)
    if event == "resolved":
        head = f":white_check_mark: Resolved: {alert['title']}"
    else:
        head = f"{_EMOJI.get(alert['severity'], '')} {alert['title']}".strip()
    scope = f"org `{alert['orgId']}`" if alert.get("orgId") else "all orgs"
    return {
        # `text` is the notification fallback; blocks are what the channel shows.
        "text": f"{head}: {alert['summary']}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{alert['summary']}\n*Scope:* {scope} · "
                                                                   f"*Severity:* {alert['severity']}"}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": f"Start with `{diagnose_command(alert)}`\n<{dash}|Open the dashboard>"
                                                 f" · runbook `{RUNBOOK}`"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"smsrelay alert `{alert['key']}`"}]},
        ],
    }


def pagerduty_payload(settings: Settings, alert: dict[str, Any], event: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": settings.pagerduty_routing_key,
        "event_action": "resolve" if event == "resolved" else "trigger",
        "dedup_key": dedup_key(alert),
    }
    if event == "resolved":
        return body
    return {
        **body,
        "payload": {
            "summary": f"{alert['title']}: {alert['summary']}"[:1024],
            "source": settings.public_base_url,
            "severity": alert["severity"] if alert["severity"] in _EMOJI else "error",
            "timestamp": _iso(alert["firedAt"]),
            "component": "sms",
            "group": alert.get("orgId") or "all-orgs",
            "class": alert["rule"],
            "custom_details": {**(alert.get("details") or {}), "diagnose": diagnose_command(alert),
                               "runbook": RUNBOOK},
        },
        "client": "smsrelay",
        "client_url": dashboard_link(settings, alert),
        "links": [{"href": dashboard_link(settings, alert), "text": "smsrelay dashboard"}],
    }


FORMATS = {"webhook": webhook_payload, "slack": slack_payload, "pagerduty": pagerduty_payload}


def target(settings: Settings, channel: str) -> str:
    return {"webhook": settings.alert_webhook_url, "slack": settings.slack_webhook_url,
            "pagerduty": settings.pagerduty_events_url}[channel] or ""


async def send(client: httpx.AsyncClient, settings: Settings, channel: str, alert: dict[str, Any], event: str) -> None:
    """Post one notification; raises on any answer but 2xx so the caller can retry later."""
    resp = await client.post(target(settings, channel), json=FORMATS[channel](settings, alert, event))
    resp.raise_for_status()
