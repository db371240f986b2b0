"""`smsrelay org create | disable | enable | throttle | policy | key … | opt-out …`: orgs, their numbers,
their guardrail policies and their API keys. Writes name their actor (cli:<user>) for "AuditLog"."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, fail, org_ref, print_json, run_with_runtime, table, with_conn
from smsrelay.cli.org_opt_outs import opt_out_app
from smsrelay.cli.org_webhook import deliveries_app, webhook_app
from smsrelay.cli.org_numbers import ChannelOpt, number_app, set_channel

app = typer.Typer(help="Orgs and their numbers.", no_args_is_help=True)
key_app = typer.Typer(help="An org's API keys: shown once, stored hashed, revocable.", no_args_is_help=True)

OrgArg = Annotated[str, typer.Argument(help="Org id or name", callback=org_ref)]
# The mitigations and the policy command were written apart and word these differently; the
# help texts are part of the CLI's contract, so they are kept as they were.
Reason = Annotated[Optional[str], typer.Option("--reason", help="Why: recorded in the audit log")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
PolicyReason = Annotated[Optional[str], typer.Option("--reason", help="Why, for the audit log")]
PolicyJson = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("create")
def org_create(name: str,
               number: Annotated[Optional[list[str]], typer.Option(
                   "--number", help="Sender number, E.164, or whatsapp:+E164 for a WhatsApp sender")] = None,
               messaging_service: Annotated[Optional[str], typer.Option(help="Messaging Service SID (MG…)")] = None,
               webhook: Annotated[Optional[str], typer.Option(help="URL inbound SMS are forwarded to")] = None,
               region: Annotated[str, typer.Option(help="Default region for national numbers")] = "US",
               as_json: Annotated[bool, typer.Option("--json", help="Print {\"id\", \"apiKey\"}")] = False) -> None:
    """Create an org with its sender numbers; prints its id and a new API key (shown once)."""
    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> Any:
        async with rt.pool.connection() as conn:
            return await orgs.create_org(conn, name, numbers=number or [], messaging_service_sid=messaging_service,
                                         default_region=region.upper(), inbound_webhook_url=webhook, actor="cli")

    created = run_with_runtime(go, may_create=True)  # the first thing done with a new installation
    if as_json:
        print(json.dumps({"id": created.id, "apiKey": created.api_key, "numbers": created.numbers,
                          "signingSecret": created.signing_secret}))
    else:
        console.print(f"org {created.id} ({created.name}) numbers: {', '.join(created.numbers) or '-'}")
        console.print(f"API key (shown once): {created.api_key}", markup=False)
        console.print(f"webhook signing secret (shown once): {created.signing_secret}", markup=False)


@app.command("list")
def org_list(as_json: Json = False) -> None:
    """Every org: id, name, senders, SMS disabled or throttled, live API keys."""
    from smsrelay.service.tenancy import orgs

    found = with_conn(orgs.list_orgs)
    if as_json:
        return print_json(found)
    table(f"Orgs ({len(found)})", ["id", "name", "senders", "sms", "per min", "keys", "created"],
          [[o["id"], o["name"], ", ".join(o["senders"]) or None, "disabled" if o["smsDisabled"] else "enabled",
            o["maxMessagesPerMinute"], o["activeKeys"], o["createdAt"].strftime("%Y-%m-%d %H:%M")] for o in found])


# --- mitigations (the runbook's "Disable SMS for affected org", "Lower message rate") -----------

def _show_org(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return print_json(data)
    rate = data["maxMessagesPerMinute"]
    console.print(f"org {data['orgId']}: SMS {'disabled' if data['smsDisabled'] else 'enabled'}, "
                  f"{'no rate limit' if rate is None else f'at most {rate} per minute'}")


@app.command("disable")
def org_disable(org: OrgArg, reason: Reason = None, as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Hold every outbound SMS of one org (runbook: "Disable SMS for affected org"); --channel holds MMS or WhatsApp."""
    from smsrelay.service.tenancy import mitigations

    if channel and channel.lower() != "sms":
        return set_channel(org, channel, True, reason, as_json)
    _show_org(with_conn(mitigations.disable_org, org, actor=actor(), reason=reason), as_json)


@app.command("enable")
def org_enable(org: OrgArg, reason: Reason = None, as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Lift an org's disable; its held messages go out, oldest first."""
    from smsrelay.service.tenancy import mitigations

    if channel and channel.lower() != "sms":
        return set_channel(org, channel, False, reason, as_json)
    _show_org(with_conn(mitigations.enable_org, org, actor=actor(), reason=reason), as_json)


@app.command("throttle")
def org_throttle(org: OrgArg,
                 per_minute: Annotated[Optional[int], typer.Option("--per-minute", help="Messages per minute")] = None,
                 off: Annotated[bool, typer.Option("--off", help="Remove the limit")] = False,
                 reason: Reason = None, as_json: Json = False) -> None:
    """Limit an org's send rate (runbook: "Lower message rate")."""
    from smsrelay.service.tenancy import mitigations

    if off == (per_minute is not None):
        fail("give exactly one of --per-minute N or --off", 2)
    _show_org(with_conn(mitigations.throttle_org, org, None if off else per_minute, actor=actor(), reason=reason),
              as_json)


# --- guardrail policies ---------------------------------------------------------------------------

@app.command("policy")
def org_policy_command(
        org: OrgArg,
        content_policy: Annotated[Optional[str], typer.Option(help="warn | block: what content findings do")] = None,
        landline_policy: Annotated[Optional[str], typer.Option(help="warn | block: sends to landlines")] = None,
        countries: Annotated[Optional[str], typer.Option(help="Allowed destination regions, e.g. US,CA")] = None,
        any_country: Annotated[bool, typer.Option("--any-country", help="Remove the country allow-list")] = False,
        region: Annotated[Optional[str], typer.Option(help="Default region for national numbers")] = None,
        help_text: Annotated[Optional[str], typer.Option(help="Reply to HELP / INFO")] = None,
        validity: Annotated[Optional[int], typer.Option(help="Seconds a held message stays valid")] = None,
        daily_cap: Annotated[Optional[int], typer.Option(help="Most outbound SMS segments a day, as Twilio bills them (spend guard)")] = None,
        no_daily_cap: Annotated[bool, typer.Option("--no-daily-cap", help="Remove the daily cap")] = False,
        reason: PolicyReason = None, as_json: PolicyJson = False) -> None:
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
        data = with_conn(org_policy.update, org, changes, actor=actor(), reason=reason)
    else:
        data = with_conn(org_policy.get, org)
    if as_json:
        return print_json(data)
    allowed = ", ".join(data["allowedCountries"] or []) or "any"
    console.print(f"org {data['orgId']}: content {data['contentPolicy']}, landlines {data['landlinePolicy']}, "
                  f"countries {allowed}, region {data['defaultRegion']}, held messages valid "
                  f"{data['validityPeriodSeconds']} s, daily cap {data.get('dailySendCap') or 'none'}", highlight=False)
    console.print(f"HELP reply: {data['helpText'] or '(default)'}", markup=False, highlight=False)


# --- API keys ---------------------------------------------------------------------------------------

app.add_typer(key_app, name="key")
app.add_typer(opt_out_app, name="opt-out")
app.add_typer(webhook_app, name="webhook")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(number_app, name="number")


@key_app.command("create")
def key_create(org: OrgArg, name: Annotated[Optional[str], typer.Option(help="A label for the key")] = None,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Issue a new API key for an org (printed once; only its hash is kept)."""
    from smsrelay.service.tenancy import orgs

    async def go(rt: Any) -> str:
        async with rt.pool.connection() as conn, conn.transaction():
            await orgs.get_org(conn, org)
            return await orgs.issue_key(conn, org, name=name)

    key = run_with_runtime(go)
    print(json.dumps({"orgId": org, "apiKey": key}) if as_json else key)


@key_app.command("list")
def key_list(org: OrgArg) -> None:
    """An org's keys: id, prefix, label, created, revoked (never the key itself)."""
    from rich.table import Table

    from smsrelay.service.tenancy import orgs

    table = Table("id", "prefix", "name", "created", "revoked")
    for k in with_conn(orgs.list_keys, org):
        table.add_row(k["id"], k["prefix"] + "…", k["name"] or "", str(k["createdAt"]), str(k["revokedAt"] or ""))
    console.print(table)


@key_app.command("revoke")
def key_revoke(org: OrgArg, key_id: str) -> None:
    """Revoke a key at once: its next request answers 401."""
    from smsrelay.service.tenancy import orgs

    with_conn(orgs.revoke_key, org, key_id)
    console.print(f"revoked {key_id}")
