"""The `smsrelay` command: run the service, and do what the on-call runbook asks of a human.

This module only assembles the root app from the command groups; each group lives in its own
module and takes what it shares from `common` (imports run common ← groups ← here). A command
loads what it needs when it runs, so a database-only command never imports the Twilio SDK.
"""

from __future__ import annotations

import os

# Typer's rich help imports rich's Markdown, Pygments and tracebacks: 0.2 s of CPU on every
# `--help`, against a 0.5 s budget at 3 a.m. (docs/benchmarks.md). Plain help says the same;
# TYPER_USE_RICH=1 brings the panels back. Set before typer is imported, which reads it once.
os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402

from smsrelay.cli import alerts, autopilot, db, incident, org, retention, send, serve, sms, template, twilio, usage  # noqa: E402
from smsrelay.cli.common import CommandGroup  # noqa: E402
from smsrelay.simulator.cli import sim_app  # noqa: E402

app = typer.Typer(cls=CommandGroup, help="Multi-tenant SMS on Twilio, with incident response built in.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

app.command()(serve.up)
app.command()(serve.api)
app.command()(serve.worker)
app.command()(serve.scheduler)
app.command()(send.send)
app.command("retry")(send.retry_command)
app.command("lint")(send.lint_command)

app.add_typer(db.app, name="db")
app.add_typer(org.app, name="org")
# The simulator is a separate program that happens to ship with us; only the CLI mounts it.
app.add_typer(sim_app, name="sim")
app.add_typer(alerts.app, name="alerts")
app.add_typer(incident.app, name="incident")
app.add_typer(twilio.app, name="twilio")
app.add_typer(sms.app, name="sms")
app.add_typer(template.app, name="template")
app.add_typer(autopilot.app, name="autopilot")
app.add_typer(retention.app, name="retention")
app.add_typer(usage.app, name="usage")


def main() -> None:
    app()


__all__ = ["app", "main"]
