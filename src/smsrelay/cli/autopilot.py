"""`smsrelay autopilot status | enable | disable | undo | report`: the incident autopilot, off
by default and switched per cause. Every switch and undo names its actor (cli:<user>)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import actor, console, print_json, run_with_runtime, table, with_conn

app = typer.Typer(help="The incident autopilot: mitigates a diagnosed cause on its own, per cause, off by default.",
                  no_args_is_help=True)

Causes = Annotated[Optional[list[str]], typer.Argument(help="Causes (default: every cause it handles)")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what it would do, in the same notifications; change nothing")]
Reason = Annotated[Optional[str], typer.Option("--reason", help="Why, for the audit log")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show(data: dict[str, Any]) -> None:
    table("Autopilot", ["cause", "state", "scopes (narrowest first)", "still needs a person"],
          [[c["cause"], ("on (dry run)" if c["dryRun"] else "on") if c["enabled"] else "off",
            " → ".join(c["scopes"]), c["needsAPerson"]] for c in data["causes"]])
    if data.get("actions") is not None:
        if not data["actions"]:
            console.print("No autopilot action in the last 24 h.")
        # One line per action, so its id and undo command survive a narrow terminal.
        for a in data["actions"]:
            dry = " (dry run)" if a["dryRun"] else ""
            console.print(f"{a['createdAt'][:19]} {a['id']} {a['cause']}: {a['plan'] or a['kind']} — {a['state']}{dry}"
                          f", {a['held']} held", soft_wrap=True)
            if a["undo"]:
                console.print(f"    undo: {a['undo']}", soft_wrap=True)


@app.command("status")
def autopilot_status(causes: Causes = None, as_json: Json = False) -> None:
    """Which causes it may act on, and what it did in the last 24 hours (only for CAUSE… when named)."""
    from smsrelay.service.operations import autopilot, autopilot_config

    wanted = set(autopilot_config.check_causes(causes))  # an unknown cause: one line, exit 2, before any database
    data = run_with_runtime(autopilot.status)
    data = {**data, "causes": [c for c in data["causes"] if c["cause"] in wanted],
            "actions": [a for a in data["actions"] if a["cause"] in wanted]}
    if as_json:
        return print_json(data)
    _show(data)


@app.command("enable")
def autopilot_enable(causes: Causes = None, dry_run: DryRun = False, reason: Reason = None, as_json: Json = False) -> None:
    """Let it act on these causes (after a mitigation that did not help, this is also a person's
    go-ahead to widen once more)."""
    from smsrelay.service.operations import autopilot_config

    data = with_conn(autopilot_config.set_enabled, causes, True, dry_run=dry_run, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    _show({"causes": data})


@app.command("disable")
def autopilot_disable(causes: Causes = None, reason: Reason = None, as_json: Json = False) -> None:
    """Stop it acting on these causes; what it already applied stays until undone or released."""
    from smsrelay.service.operations import autopilot_config

    data = with_conn(autopilot_config.set_enabled, causes, False, actor=actor(), reason=reason)
    if as_json:
        return print_json(data)
    _show({"causes": data})


@app.command("undo")
def autopilot_undo(action_id: str, reason: Reason = None, as_json: Json = False) -> None:
    """Lift one of its mitigations; what it held goes out, each message once."""
    from smsrelay.service.operations import autopilot_actions

    data = run_with_runtime(lambda rt: autopilot_actions.undo(rt, action_id, actor=actor(), reason=reason))
    if as_json:
        return print_json(data)
    console.print(f"Undone: {data['plan']} ({data['id']}); it will not act on {data['cause']} again until the "
                  "cause clears or it is enabled again.")


@app.command("report")
def autopilot_report(action_id: str) -> None:
    """The post-incident report it wrote when the incident closed."""
    from smsrelay.service.operations import autopilot

    data = run_with_runtime(lambda rt: autopilot.report(rt, action_id))
    if not data["report"]:
        console.print(f"No report yet: action {action_id} is {data['state']}.")
        raise typer.Exit(1)
    typer.echo(data["report"])
