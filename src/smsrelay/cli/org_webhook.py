"""`smsrelay org webhook show | set | rotate-secret | test` and `smsrelay org deliveries list |
show | replay`: an org's webhooks as its operator sees them (what the org does with its key
through /v1/webhooks). Changes name their actor (cli:<user>) for "AuditLog"."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, fail, org_ref, print_json, table, with_conn

webhook_app = typer.Typer(help="An org's webhook URLs, signing secret and endpoints' state.", no_args_is_help=True)
deliveries_app = typer.Typer(help="An org's event deliveries: the log, one event's attempts, replay.",
                             no_args_is_help=True)

OrgArg = Annotated[str, typer.Argument(help="Org id or name", callback=org_ref)]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
Reason = Annotated[Optional[str], typer.Option("--reason", help="Why: recorded in the audit log")]


def _show(data: dict[str, Any], org: str, as_json: bool) -> None:
    if as_json:
        return print_json(data)
    console.print(f"org {org}: status URL {data['statusUrl'] or '-'}, inbound URL {data['inboundUrl'] or '-'}",
                  markup=False, highlight=False)
    for s in data["signingSecrets"]:
        console.print(f"signing secret made {s['createdAt']}" + (f", valid until {s['expiresAt']}" if s["expiresAt"]
                                                                  else " (current)"), highlight=False)
    for e in data["endpoints"]:
        console.print(f"endpoint {e['url']}: {e['state']}" + (f" since {e['failingSince']}, {e['consecutiveFailures']} "
                                                              f"failures in a row, last: {e['lastError']}"
                                                              if e["state"] == "failing" else ""),
                      markup=False, highlight=False)


@webhook_app.command("show")
def webhook_show(org: OrgArg, as_json: Json = False) -> None:
    """URLs, active signing secrets (never the secret) and each endpoint's state."""
    from smsrelay.service.events import webhooks

    _show(with_conn(webhooks.settings, org), org, as_json)


@webhook_app.command("set")
def webhook_set(org: OrgArg,
                status_url: Annotated[Optional[str], typer.Option("--status-url", help="Where status events go ('' clears)")] = None,
                inbound_url: Annotated[Optional[str], typer.Option("--inbound-url", help="Where inbound SMS go ('' clears)")] = None,
                reason: Reason = None, as_json: Json = False) -> None:
    """Change an org's webhook URLs (audited)."""
    from smsrelay.service.events import webhooks

    changes: dict[str, Any] = {}
    if status_url is not None:
        changes["status_url"] = status_url or None
    if inbound_url is not None:
        changes["inbound_url"] = inbound_url or None
    if not changes:
        fail("give --status-url and/or --inbound-url", 2)
    _show(with_conn(webhooks.update_urls, org, actor=actor(), reason=reason, **changes), org, as_json)


@webhook_app.command("rotate-secret")
def webhook_rotate(org: OrgArg, reason: Reason = None, as_json: Json = False) -> None:
    """A new signing secret, printed once; the previous one keeps verifying for WEBHOOK_SECRET_GRACE_HOURS."""
    from smsrelay.service.events import webhooks

    from smsrelay.settings import get_settings  # loaded by the command that needs it: --help stays fast

    grace = get_settings().webhook_secret_grace_hours * 3600
    data = with_conn(webhooks.rotate_secret, org, grace_seconds=grace, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    console.print(f"signing secret (shown once): {data['secret']}", markup=False)
    console.print(f"the previous secret stays valid until {data['previousSecretValidUntil'] or '-'}", highlight=False)


@webhook_app.command("test")
def webhook_test(org: OrgArg, as_json: Json = False) -> None:
    """Send a webhook.test event to the org's status URL (see `org deliveries show`)."""
    from smsrelay.service.events import webhooks

    data = with_conn(webhooks.send_test, org)
    if as_json:
        return print_json(data)
    console.print(f"test event {data['eventId']} queued for {data['url']}", markup=False, highlight=False)


@deliveries_app.command("list")
def deliveries_list(org: OrgArg,
                    state: Annotated[Optional[str], typer.Option(help="pending | delivered | failed")] = None,
                    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
                    as_json: Json = False) -> None:
    """An org's recent event deliveries, newest first."""
    from smsrelay.service.events import webhooks

    if state not in (None, "pending", "delivered", "failed"):
        fail("--state is pending, delivered or failed", 2)
    if not 1 <= limit <= 1000:
        fail("--limit must be between 1 and 1000", 2)
    rows = with_conn(webhooks.recent, org, limit=limit, state=state)
    if as_json:
        return print_json(rows)
    table(f"deliveries of {org}", ["event", "type", "message", "seq", "status", "state", "attempts", "last"],
          [[d["eventId"], d["type"], d["messageId"] or "", d["sequence"], d["status"] or "", d["state"],
            d["attempts"], d["lastError"] or (d["lastStatusCode"] or "")] for d in rows])


@deliveries_app.command("show")
def deliveries_show(org: OrgArg, event: Annotated[str, typer.Argument(help="Event id (evt_…)")],
                    as_json: Json = False) -> None:
    """One event: every attempt (status, latency, error) and its body."""
    from smsrelay.service.events import webhooks

    data = with_conn(webhooks.delivery, org, event)
    if as_json:
        return print_json(data)
    console.print(f"{data['eventId']} {data['type']} to {data['url'] or '-'}: {data['state']}", markup=False,
                  highlight=False)
    table("attempts", ["#", "at", "outcome", "status", "ms", "error"],
          [[a["attempt"], a["at"], a["outcome"], a["statusCode"] or "", f"{a['latencyMs']:.0f}", a["error"] or ""]
           for a in data["attemptLog"]])


@deliveries_app.command("replay")
def deliveries_replay(org: OrgArg, event: Annotated[str, typer.Argument(help="Event id (evt_…)")],
                      reason: Reason = None, as_json: Json = False) -> None:
    """Deliver an event again, now (audited)."""
    from smsrelay.service.events import webhooks

    data = with_conn(webhooks.replay, org, event, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    console.print(f"{data['eventId']} will be delivered again to {data['url']}", markup=False, highlight=False)
