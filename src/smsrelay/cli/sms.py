"""`smsrelay sms pause | resume | status`: the runtime kill switch for all outbound SMS.
Writes name their actor (cli:<user>) for "AuditLog"."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, print_json, with_conn

app = typer.Typer(help="The runtime kill switch for all outbound SMS (no restart needed).", no_args_is_help=True)

Reason = Annotated[Optional[str], typer.Option("--reason", help="Why, for the audit log")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show_status(data: dict[str, Any]) -> None:
    pause = data["pause"]
    if data["paused"]:
        console.print(f"Outbound SMS: [bold red]PAUSED[/bold red] by {pause.get('by')} since {pause.get('since')}"
                      f" ({pause.get('reason') or 'no reason given'}); `smsrelay sms resume` lifts it")
    else:
        console.print("Outbound SMS: not paused")
    env = "true" if data["featureSmsEnabled"] else "[bold red]false[/bold red] (this process holds every send)"
    console.print(f"FEATURE_SMS_ENABLED here: {env}")
    held = ", ".join(f"{reason} {count}" for reason, count in data["held"].items())
    console.print(f"Held messages: {data['heldTotal']}" + (f" ({held})" if held else ""))
    console.print(f"Disabled orgs: {', '.join(data['disabledOrgs']) or '-'}")
    throttled = ", ".join(f"{o['orgId']} {o['perMinute']}/min ({o['waiting']} waiting)" for o in data["throttledOrgs"])
    console.print(f"Throttled orgs: {throttled or '-'}")


@app.command("pause")
def sms_pause(reason: Reason = None, as_json: Json = False) -> None:
    """Hold every outbound SMS now, in every process; messages are kept, not dropped."""
    from smsrelay.service.tenancy import mitigations

    data = with_conn(mitigations.pause, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    console.print("SMS paused: outbound messages are held until `smsrelay sms resume`.")


@app.command("resume")
def sms_resume(reason: Reason = None, as_json: Json = False) -> None:
    """Lift the pause; held messages go out, oldest first."""
    from smsrelay.service.tenancy import mitigations

    data = with_conn(mitigations.resume, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    console.print("SMS resumed: held messages are being released.")


@app.command("status")
def sms_status(as_json: Json = False) -> None:
    """The kill switches, disabled and throttled orgs, and how many messages they hold."""
    from smsrelay.service.outbound import guards
    from smsrelay.settings import get_settings

    data = with_conn(guards.status, get_settings())
    print_json(data) if as_json else _show_status(data)
