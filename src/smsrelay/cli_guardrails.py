"""`smsrelay sms pause|resume|status`, `smsrelay lint`, `smsrelay org policy`: the guardrails.

Mounted by smsrelay.cli through register(). Writes name their actor (cli:<user>) for "AuditLog".
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any, Optional

import typer

from smsrelay.cli import command_errors, console, fail, run_with_runtime

sms_app = typer.Typer(help="The runtime kill switch for all outbound SMS (no restart needed).", no_args_is_help=True)

Reason = Annotated[Optional[str], typer.Option("--reason", help="Why, for the audit log")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - some containers have no user name
        return "cli"


def _with_conn(fn: Any, *args: Any, **kwargs: Any) -> Any:
    async def go(rt: Any) -> Any:
        async with rt.pool.connection() as conn:
            return await fn(conn, *args, **kwargs)

    return run_with_runtime(go)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- sms pause | resume | status ---------------------------------------------------------------

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


@sms_app.command("pause")
@command_errors
def sms_pause(reason: Reason = None, as_json: Json = False) -> None:
    """Hold every outbound SMS now, in every process; messages are kept, not dropped."""
    from smsrelay.service.tenancy import mitigations

    data = _with_conn(mitigations.pause, actor=_actor(), reason=reason)
    if as_json:
        return _print_json(data)
    console.print("SMS paused: outbound messages are held until `smsrelay sms resume`.")


@sms_app.command("resume")
@command_errors
def sms_resume(reason: Reason = None, as_json: Json = False) -> None:
    """Lift the pause; held messages go out, oldest first."""
    from smsrelay.service.tenancy import mitigations

    data = _with_conn(mitigations.resume, actor=_actor(), reason=reason)
    if as_json:
        return _print_json(data)
    console.print("SMS resumed: held messages are being released.")


@sms_app.command("status")
@command_errors
def sms_status(as_json: Json = False) -> None:
    """The kill switches, disabled and throttled orgs, and how many messages they hold."""
    from smsrelay.service.outbound import guards
    from smsrelay.settings import get_settings

    data = _with_conn(guards.status, get_settings())
    _print_json(data) if as_json else _show_status(data)


# --- lint ---------------------------------------------------------------------------------------

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


@command_errors
def lint_command(text: Annotated[str, typer.Argument(help="Message text, or - to read it from stdin")],
                 as_json: Json = False,
                 first_message: Annotated[bool, typer.Option(
                     "--first-message", help="Also require opt-out words, as for a first message (A2P)")] = False) -> None:
    """Encoding, segments and content findings for a message, as Twilio counts them.

    Exits 1 when a finding is an error (empty, over 1600 characters)."""
    from smsrelay.domain import lint

    body = sys.stdin.read() if text == "-" else text
    result = lint.lint(body, first_message_to_recipient=first_message)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        console.print(f"{result.encoding} · {result.segments} segment(s) · {result.characters} character(s)",
                      highlight=False)
        for f in result.findings:
            console.print(f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/] {f.code}: ", end="", highlight=False)
            console.print(f.message, markup=False, highlight=False)
        if not result.findings:
            console.print("no findings")
    if any(f.severity == "error" for f in result.findings):
        raise typer.Exit(1)


# --- org policy ---------------------------------------------------------------------------------

@command_errors
def org_policy_command(
        org: Annotated[str, typer.Argument(help="Org id")],
        content_policy: Annotated[Optional[str], typer.Option(help="warn | block: what content findings do")] = None,
        landline_policy: Annotated[Optional[str], typer.Option(help="warn | block: sends to landlines")] = None,
        countries: Annotated[Optional[str], typer.Option(help="Allowed destination regions, e.g. US,CA")] = None,
        any_country: Annotated[bool, typer.Option("--any-country", help="Remove the country allow-list")] = False,
        region: Annotated[Optional[str], typer.Option(help="Default region for national numbers")] = None,
        help_text: Annotated[Optional[str], typer.Option(help="Reply to HELP / INFO")] = None,
        validity: Annotated[Optional[int], typer.Option(help="Seconds a held message stays valid")] = None,
        daily_cap: Annotated[Optional[int], typer.Option(help="Most outbound SMS segments a day, as Twilio bills them (spend guard)")] = None,
        no_daily_cap: Annotated[bool, typer.Option("--no-daily-cap", help="Remove the daily cap")] = False,
        reason: Reason = None, as_json: Json = False) -> None:
    """Show an org's guardrail policies, or change the ones given (audited)."""
    from smsrelay.service.tenancy import org_policy

    if countries is not None and any_country:
        fail("give --countries or --any-country, not both", 2)
    changes: dict[str, Any] = {}
    for key, value in (("contentPolicy", content_policy), ("landlinePolicy", landline_policy),
                       ("defaultRegion", region), ("helpText", help_text), ("validityPeriodSeconds", validity)):
        if value is not None:
            changes[key] = value
    if countries is not None:
        changes["allowedCountries"] = [c for c in countries.split(",") if c.strip()]
    if any_country:
        changes["allowedCountries"] = None
    if daily_cap is not None and no_daily_cap:
        fail("give --daily-cap or --no-daily-cap, not both", 2)
    if daily_cap is not None or no_daily_cap:
        changes["dailySendCap"] = daily_cap
    if changes:
        data = _with_conn(org_policy.update, org, changes, actor=_actor(), reason=reason)
    else:
        data = _with_conn(org_policy.get, org)
    if as_json:
        return _print_json(data)
    allowed = ", ".join(data["allowedCountries"] or []) or "any"
    console.print(f"org {data['orgId']}: content {data['contentPolicy']}, landlines {data['landlinePolicy']}, "
                  f"countries {allowed}, region {data['defaultRegion']}, held messages valid "
                  f"{data['validityPeriodSeconds']} s, daily cap {data.get('dailySendCap') or 'none'}", highlight=False)
    console.print(f"HELP reply: {data['helpText'] or '(default)'}", markup=False, highlight=False)


def register(app: typer.Typer, org_app: typer.Typer) -> None:
    app.add_typer(sms_app, name="sms")
    app.command("lint")(lint_command)
    org_app.command("policy")(org_policy_command)
