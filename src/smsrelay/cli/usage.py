"""`smsrelay usage [--org ORG] [--since 30d] [--csv] | reconcile | caps`: what each org cost
(service/spend/usage.py), the comparison with Twilio's usage records, and an org's spend caps."""

from __future__ import annotations

import csv
import sys
from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import OrgOpt, actor, console, fail, org_ref, print_json, run_with_runtime, table, with_conn

app = typer.Typer(help="What each org cost: usage, reconciliation with Twilio, spend caps.")

SinceDays = Annotated[str, typer.Option("--since", help="Days ending today: 30d, 7d, 4w")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


@app.callback(invoke_without_command=True)
def usage_command(ctx: typer.Context, org: OrgOpt = None, since: SinceDays = "30d",
                  as_csv: Annotated[bool, typer.Option("--csv", help="One row per org, day, country and channel")] = False,
                  as_json: Json = False) -> None:
    """Messages, segments and cost per org (or one org) over the last days, Twilio's price where
    fetched and the estimate otherwise."""
    if ctx.invoked_subcommand is not None:
        return
    from smsrelay.service.spend import usage

    start, end = usage.since_range(since)
    if as_csv:
        rows = with_conn(usage.rows, org, start, end)
        out = csv.writer(sys.stdout)
        out.writerow(["orgId", "day", "country", "channel", "messages", "segments", "billed", "estimated", "unpriced"])
        for r in rows:
            out.writerow([r["orgId"], r["day"].isoformat(), r["country"], r["channel"], r["messages"], r["segments"],
                          f"{r['billed']:.5f}", f"{r['estimated']:.5f}", r["unpriced"]])
        return
    data = with_conn(usage.usage, org, start, end)
    if as_json:
        print_json(data)
        return
    title = f"usage {data['from']} .. {data['to']} (USD)"
    if org is None:
        table(title, ["org", "messages", "segments", "cost", "billed", "estimated"],
              [[o["orgId"], o["messages"], o["segments"], o["cost"], o["billed"], o["estimated"]] for o in data["byOrg"]])
    else:
        table(title, ["day", "messages", "segments", "cost"],
              [[d["day"], d["messages"], d["segments"], d["cost"]] for d in data["byDay"]])
    console.print(f"total: {data['messages']} messages, {data['segments']} segments, {data['cost']} USD "
                  f"({data['billed']} billed by Twilio, {data['estimated']} estimated for {data['unpricedMessages']} unpriced)")


@app.command("reconcile")
def reconcile_command(since: SinceDays = "7d", as_json: Json = False) -> None:
    """Compare our billed totals per day with Twilio's usage records; exits 1 on any difference."""
    from smsrelay.service.spend import usage

    start, end = usage.since_range(since)
    data = run_with_runtime(lambda rt: usage.reconcile(rt, start, end))
    if as_json:
        print_json(data)
    else:
        table(f"reconcile {data['from']} .. {data['to']}", ["day", "category", "ours", "twilio", "unpriced", "ok"],
              [[d["day"], d["category"], f"{d['ours']['messages']} msg / {d['ours']['segments']} seg / {d['ours']['price']}",
                f"{d['twilio']['messages']} msg / {d['twilio']['segments']} seg / {d['twilio']['price']}",
                d["unpriced"], "yes" if d["matches"] else "DIFFERS"] for d in data["days"]])
    if not data["matches"]:
        fail(f"{len(data['differences'])} day(s) differ from Twilio's usage records", 1)
    if not as_json:
        console.print("matches Twilio's usage records")


def _amount(raw: Optional[str]) -> Any:
    # "none" clears a cap; anything else is checked by the service (invalid_spend_policy).
    return ... if raw is None else (None if raw.lower() == "none" else raw)


@app.command("caps")
def caps_command(
        org: Annotated[str, typer.Argument(help="Org id or name", callback=org_ref)],
        daily_spend_cap: Annotated[Optional[str], typer.Option(help="USD a day (UTC), or none")] = None,
        monthly_spend_cap: Annotated[Optional[str], typer.Option(help="USD a calendar month, or none")] = None,
        daily_segment_cap: Annotated[Optional[str], typer.Option(help="Segments a day, or none")] = None,
        monthly_segment_cap: Annotated[Optional[str], typer.Option(help="Segments a month, or none")] = None,
        price_ceiling: Annotated[Optional[str], typer.Option(help="Most USD a segment to any destination, or none")] = None,
        reason: Annotated[Optional[str], typer.Option(help="Why (kept in the audit log)")] = None,
        as_json: Json = False) -> None:
    """Show or set an org's spend caps: messages over a cap (or to a dearer destination than the
    ceiling) are held, never dropped, and go out once the cap resets or is raised."""
    from smsrelay.service.spend import caps
    from smsrelay.service.tenancy import orgs

    changes = {k: v for k, v in (("dailySpendCap", _amount(daily_spend_cap)), ("monthlySpendCap", _amount(monthly_spend_cap)),
                                 ("dailySegmentCap", _amount(daily_segment_cap)),
                                 ("monthlySegmentCap", _amount(monthly_segment_cap)),
                                 ("priceCeiling", _amount(price_ceiling))) if v is not ...}

    async def go(conn: Any) -> dict[str, Any]:
        await orgs.get_org(conn, org)
        policy = await caps.set_policy(conn, org, changes, actor=actor(), reason=reason) if changes else await caps.get_policy(conn, org)
        return {**policy, "used": await caps.used(conn, org)}

    data = with_conn(go)
    if as_json:
        print_json(data)
        return
    table(f"spend caps of {org}", ["cap", "value"], [[k, "-" if v is None else v] for k, v in data.items()
                                                     if k not in ("orgId", "used")])
    u = data["used"]
    console.print(f"today: {u['daySegments']} segments, {u['dayCost']} USD; this month: {u['monthSegments']} segments, "
                  f"{u['monthCost']} USD")
