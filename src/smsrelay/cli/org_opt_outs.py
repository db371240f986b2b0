"""`smsrelay org opt-out list | add | remove`: an org's opt-out list, as the org manages it with
/v1/opt-outs (service/tenancy/self_service.py). An operator's addition records cli:<user> as
its source."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from smsrelay.cli.common import actor, console, org_ref, print_json, with_conn

OrgArg = Annotated[str, typer.Argument(help="Org id or name", callback=org_ref)]

opt_out_app = typer.Typer(help="An org's opt-out list: numbers it does not send to.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


@opt_out_app.command("list")
def opt_out_list(org: OrgArg, as_json: Json = False) -> None:
    """The org's opted-out numbers, by number."""
    from smsrelay.service.tenancy import orgs, self_service

    async def go(conn: Any) -> list[dict]:
        await orgs.get_org(conn, org)
        found, after = [], None
        while True:
            page = await self_service.list_opt_outs(conn, org, after=after, limit=500)
            found += page["optOuts"]
            after = page["nextCursor"]
            if after is None:
                return found

    rows = with_conn(go)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("phone", "source", "since")
    for r in rows:
        table.add_row(r["phone"], r["source"], r["createdAt"])
    console.print(table)


@opt_out_app.command("add")
def opt_out_add(org: OrgArg, phone: str) -> None:
    """Stop sending to a number (as if it replied STOP)."""
    from smsrelay.service.tenancy import self_service

    created, row = with_conn(self_service.add_opt_out, org, phone, source=actor())
    console.print(f"{row['phone']} {'opted out' if created else 'was already opted out'}", highlight=False)


@opt_out_app.command("remove")
def opt_out_remove(org: OrgArg, phone: str) -> None:
    """Send to a number again (as if it replied START)."""
    from smsrelay.service.tenancy import self_service

    with_conn(self_service.remove_opt_out, org, phone)
    console.print(f"{phone} removed from the opt-out list", highlight=False)
