"""`smsrelay twilio balance | account | numbers | number`: live checks of the Twilio account,
through the SDK (loaded by the use case, only when one of these runs)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smsrelay.cli.common import console, print_json, run_with_runtime, table

app = typer.Typer(help="Live checks of the Twilio account, through the SDK.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _waiting_for_twilio(what: str, fn: Any) -> Any:
    """Run fn(rt) while a terminal shows that Twilio is being waited for, and for how long at
    most: during an outage Twilio can take the whole timeout to answer, and a silent prompt reads
    as a hung command. The line is transient; the command ends with its answer or one error line.
    Not a terminal (a script, a pipe), nothing is drawn."""
    from rich.console import Console

    from smsrelay.service.operations import incident
    from smsrelay.settings import get_settings

    status = Console(stderr=True)  # built now, so FORCE_COLOR and the current stderr count
    if not status.is_terminal:
        return run_with_runtime(fn)
    seconds = min(incident.TWILIO_CALL_SECONDS, get_settings().twilio_timeout_seconds)
    with status.status(f"Asking Twilio for {what} (waiting up to {seconds:g} s)…", spinner="dots"):
        return run_with_runtime(fn)


@app.command("balance")
def twilio_balance(as_json: Json = False) -> None:
    """The account balance (runbook: check account balance)."""
    from smsrelay.service.operations import incident

    data = _waiting_for_twilio("the balance", incident.twilio_balance)
    if as_json:
        return print_json(data)
    console.print(f"balance: {data['balance']} {data['currency']}")


@app.command("account")
def twilio_account(as_json: Json = False) -> None:
    """The account's status (active, suspended, closed): also proves the credentials work."""
    from smsrelay.service.operations import incident

    data = _waiting_for_twilio("the account's status", incident.twilio_account)
    if as_json:
        return print_json(data)
    console.print(f"account {data['sid']} ({data['friendly_name']}): status {data['status']}, type {data['type']}")


def _numbers_table(numbers: list[dict[str, Any]]) -> None:
    table("Twilio numbers", ["number", "sid", "status", "sms", "sms url"],
          [[n["phone_number"], n["sid"], n["status"], "yes" if (n["capabilities"] or {}).get("sms") else "no",
            n["sms_url"]] for n in numbers])


@app.command("numbers")
def twilio_numbers(as_json: Json = False) -> None:
    """Every number on the account with its status and SMS capability."""
    from smsrelay.service.operations import incident

    data = _waiting_for_twilio("the account's numbers", incident.twilio_numbers)
    if as_json:
        return print_json(data)
    _numbers_table(data)


@app.command("number")
def twilio_number(number: Annotated[str, typer.Argument(help="E.164, e.g. +15017122661")], as_json: Json = False) -> None:
    """One number (the runbook's `twilio phone-numbers:fetch +1XXXXXXXXXX`)."""
    from smsrelay.service.operations import incident

    data = _waiting_for_twilio(number, lambda rt: incident.twilio_numbers(rt, number))
    if as_json:
        return print_json(data[0])
    _numbers_table(data)
