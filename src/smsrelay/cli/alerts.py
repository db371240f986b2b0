"""`smsrelay alerts list | test`: what the alert engine has raised, and whether its channels work."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from smsrelay.cli.common import console, fail, run_with_runtime

app = typer.Typer(help="Alerts: list them, test the notification channels.", no_args_is_help=True)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


@app.command("list")
def alerts_list(state: Annotated[Optional[str], typer.Option(help="firing or resolved")] = None,
                limit: Annotated[int, typer.Option(help="Most recent first")] = 50,
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Alerts raised by the scheduler, most recent first, with their notifications."""
    from smsrelay.service.operations import alerts

    if state not in (None, "firing", "resolved"):
        fail("--state is firing or resolved", 2)
    rows = run_with_runtime(lambda rt: alerts.list_alerts(rt, state=state, limit=limit))
    if as_json:
        print(json.dumps([_jsonable(r) for r in rows]))
        return
    if not rows:
        console.print("no alerts")
        return
    table = Table("state", "alert", "org", "severity", "fired", "resolved", "summary", "notified")
    for r in rows:
        sent = ", ".join(f"{n['channel']}:{n['event']}" + ("" if n["sentAt"] else "(pending)") for n in r["notifications"])
        table.add_row(r["state"], r["title"], r["orgId"] or "-", r["severity"], f"{r['firedAt']:%Y-%m-%d %H:%M:%S}",
                      f"{r['resolvedAt']:%H:%M:%S}" if r["resolvedAt"] else "-", r["summary"], sent or "-")
    console.print(table)


@app.command("test")
def alerts_test(no_resolve: Annotated[bool, typer.Option("--no-resolve", help="Send the trigger only")] = False) -> None:
    """Send a test alert (and its resolution) to every configured channel."""
    from smsrelay.service.operations import alerts

    results = run_with_runtime(lambda rt: alerts.send_test(rt, resolve=not no_resolve))
    if not results:
        fail("no alert channel configured (ALERT_WEBHOOK_URL, SLACK_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY)")
    for channel, event, error in results:
        console.print(f"{channel} {event}: {'ok' if error is None else error}", markup=False)
    if any(error for _, _, error in results):
        raise typer.Exit(1)
