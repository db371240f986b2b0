"""`smsrelay template list | show | disable | enable`: an org's message templates, and the
mitigation that holds one template's messages while the org's others keep flowing. Writes name
their actor (cli:<user>) for "AuditLog"."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, org_ref, print_json, table, with_conn

app = typer.Typer(help="An org's message templates, and holding one of them.", no_args_is_help=True)

OrgArg = Annotated[str, typer.Argument(help="Org id or name", callback=org_ref)]
NameArg = Annotated[str, typer.Argument(help="Template name, e.g. table_ready")]
Reason = Annotated[Optional[str], typer.Option("--reason", help="Why: recorded in the audit log")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _segments(t: dict[str, Any]) -> str:
    s = t.get("segments") or {}
    return f"{s.get('min')}–{s.get('max')}" if s.get("min") != s.get("max") else str(s.get("min"))


@app.command("list")
def template_list(org: OrgArg, archived: Annotated[bool, typer.Option("--archived", help="Include archived")] = False,
                  as_json: Json = False) -> None:
    """The org's templates: version, segment range, findings, held or archived."""
    from smsrelay.service.templates import catalog

    rows = with_conn(catalog.search, org, archived=archived)
    if as_json:
        return print_json({"orgId": org, "templates": rows})
    table(f"Templates of {org}", ["name", "version", "segments", "findings", "state"],
          [[t["name"], t["version"], _segments(t), ", ".join(f["code"] for f in t["findings"]) or "-",
            "disabled" if t["disabled"] else ("archived" if t["archived"] else "active")] for t in rows])


@app.command("show")
def template_show(org: OrgArg, name: NameArg, as_json: Json = False) -> None:
    """One template: its text, lint findings and segment range, and its versions."""
    from smsrelay.service.templates import catalog

    t = with_conn(catalog.get, org, name, versions=20)
    if as_json:
        return print_json(t)
    state = f"disabled ({t['disabledReason']})" if t["disabled"] else ("archived" if t["archived"] else "active")
    console.print(f"[bold]{t['name']}[/bold] v{t['version']} ({state}), {_segments(t)} segment(s), "
                  f"{t['encoding']} (worst {t['worstEncoding']})", highlight=False)
    console.print(t["body"], markup=False, highlight=False)
    for f in t["findings"]:
        console.print(f"  • {f['severity']} {f['code']}: {f['message']}", markup=False, highlight=False)
    table("Versions", ["version", "by", "at", "body"],
          [[v["version"], v["createdBy"], v["createdAt"], v["body"]] for v in t["versions"]])


def _show_hold(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return print_json(data)
    if data["disabled"]:
        console.print(f"template {data['template']} of {data['orgId']} disabled: its messages are held "
                      f"({data['held']} held now)", highlight=False)
    else:
        console.print(f"template {data['template']} of {data['orgId']} enabled: {data['held']} held message(s) "
                      "are released, each once", highlight=False)


@app.command("disable")
def template_disable(org: OrgArg, name: NameArg, reason: Reason = None, as_json: Json = False) -> None:
    """Hold this template's messages (never dropped) while the org's others keep flowing."""
    from smsrelay.service.templates import hold

    _show_hold(with_conn(hold.disable, org, name, actor=actor(), reason=reason), as_json)


@app.command("enable")
def template_enable(org: OrgArg, name: NameArg, reason: Reason = None, as_json: Json = False) -> None:
    """Lift the hold; the template's held messages go out, oldest first, each once."""
    from smsrelay.service.templates import hold

    _show_hold(with_conn(hold.enable, org, name, actor=actor(), reason=reason), as_json)
