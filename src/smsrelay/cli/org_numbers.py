"""`smsrelay org number add ORG ADDRESS`: another sender for an existing org (a phone number, or
a WhatsApp sender as whatsapp:+E164), and the per-channel switches of `org disable/enable
--channel` (service/tenancy/senders.py)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, print_json, with_conn

number_app = typer.Typer(help="An org's senders: phone numbers and WhatsApp senders.", no_args_is_help=True)

ChannelOpt = Annotated[Optional[str], typer.Option(
    "--channel", help="sms (default: the runbook's smsDisabled), mms or whatsapp")]


@number_app.command("add")
def number_add(org: Annotated[str, typer.Argument(help="Org id")],
               address: Annotated[str, typer.Argument(help="E.164 number, or whatsapp:+E164 for a WhatsApp sender")],
               as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False) -> None:
    """Add a sender to an org; a WhatsApp sender makes the org able to send channel whatsapp."""
    from smsrelay.service.tenancy import senders

    added = with_conn(senders.add_number, org, address, actor=actor())
    if as_json:
        return print_json(added)
    console.print(f"org {added['orgId']}: added {added['number']} ({added['kind']}"
                  f"{', default' if added['isDefault'] else ''})", markup=False, highlight=False)


def set_channel(org: str, channel: str, disabled: bool, reason: str | None, as_json: bool) -> None:
    from smsrelay.service.tenancy import senders

    row: dict[str, Any] = with_conn(senders.set_channel_disabled, org, channel.lower(), disabled, actor=actor(),
                                    reason=reason)
    if as_json:
        return print_json(row)
    state = ", ".join(f"{name} {'disabled' if row[col] else 'enabled'}" for name, col in
                      (("SMS", "smsDisabled"), ("MMS", "mmsDisabled"), ("WhatsApp", "whatsappDisabled")))
    console.print(f"org {row['orgId']}: {state}", highlight=False)
