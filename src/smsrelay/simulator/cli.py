"""`smsrelay sim`: run the simulator, or drive a running one (scenarios, inbound, ledger)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from .ledger import SimulatorClient

sim_app = typer.Typer(
    help="Twilio simulator: run it (no subcommand) or drive a running one.",
    invoke_without_command=True, no_args_is_help=False,
)
console = Console()

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """'30s', '10m', '1h', '250ms' or plain seconds -> seconds."""
    m = _DURATION.match(text or "")
    if not m:
        raise typer.BadParameter(f"bad duration {text!r}; use e.g. 30s, 10m, 1h")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _default_url() -> str:
    from smsrelay.settings import get_settings

    s = get_settings()
    return f"http://{s.simulator_host}:{s.simulator_port}"


UrlOpt = typer.Option(None, "--url", help="simulator base URL (default: from settings)")


def _client(url: str | None) -> SimulatorClient:
    from .ledger import SimulatorClient  # httpx: only for the commands that drive a simulator

    return SimulatorClient(url or _default_url())


@sim_app.callback()
def run(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="bind address (default SIMULATOR_HOST)"),
    port: Optional[int] = typer.Option(None, "--port", help="port (default SIMULATOR_PORT)"),
) -> None:
    """Run the simulator when no subcommand is given."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from smsrelay.settings import get_settings

    from .app import create_app

    s = get_settings()
    host, port = host or s.simulator_host, port or s.simulator_port
    console.print(f"Twilio simulator on http://{host}:{port} (account {s.twilio_account_sid})")
    # No access log and no proxy-header rewriting: neither means anything for a local stand-in
    # for Twilio, and both cost time on every request.
    uvicorn.run(create_app(s), host=host, port=port, log_level="warning", access_log=False,
                proxy_headers=False)


@sim_app.command()
def scenario(
    name: Optional[str] = typer.Argument(None, help="scenario name (see --list)"),
    number: Optional[str] = typer.Option(None, "--number", help="only traffic from/to this E.164"),
    match: Optional[str] = typer.Option(None, "--match", help="only bodies matching this regex"),
    country: Optional[str] = typer.Option(None, "--country", help="only this destination country"),
    rate: Optional[float] = typer.Option(None, "--rate", min=0, max=1, help="fraction affected"),
    for_: Optional[str] = typer.Option(None, "--for", help="duration, e.g. 10m or 30s"),
    code: Optional[int] = typer.Option(None, "--code", help="alternative error code"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="rate_exceeded: messages per sender per --per-seconds"),
    per_seconds: Optional[float] = typer.Option(None, "--per-seconds", help="rate_exceeded's window (60)"),
    clear: bool = typer.Option(False, "--clear", help="clear every active scenario"),
    list_: bool = typer.Option(False, "--list", help="list active and available scenarios"),
    url: Optional[str] = UrlOpt,
) -> None:
    """Activate a fault scenario (several may be active at once)."""
    with _client(url) as sim:
        if clear:
            sim.clear_scenarios()
            console.print("all scenarios cleared")
            return
        if list_ or not name:
            _print_scenarios(sim)
            return
        try:
            s = sim.set_scenario(name, number=number, match=match, country=country, rate=rate,
                                 for_seconds=parse_duration(for_) if for_ else None, code=code,
                                 limit=limit, per_seconds=per_seconds)
        except RuntimeError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        if s is None:
            console.print("healthy: all scenarios cleared")
        else:
            console.print(f"scenario {s['name']} active (id {s['id']}, code {s['code']}, stage {s['stage']})")


def _print_scenarios(sim: SimulatorClient) -> None:
    active = sim.scenarios()
    table = Table(title="active scenarios")
    for col in ("id", "name", "code", "number", "match", "country", "rate"):
        table.add_column(col)
    for s in active:
        table.add_row(*(str(s[c]) if s[c] is not None else "" for c in
                        ("id", "name", "code", "number", "match", "country", "rate")))
    console.print(table)
    console.print("available: " + ", ".join(sim.available_scenarios()))


@sim_app.command()
def inbound(
    text: str = typer.Argument(..., help="message body"),
    from_: str = typer.Option(..., "--from", help="the mobile user's E.164"),
    to: str = typer.Option(..., "--to", help="our Twilio number (E.164)"),
    url: Optional[str] = UrlOpt,
) -> None:
    """Send a signed inbound-SMS webhook, as if FROM texted TO."""
    with _client(url) as sim:
        result = sim.send_inbound(from_, to, text)
    status = result["status"] if result["status"] is not None else result.get("error")
    typer.echo(f"{result['message_sid']} -> {result['url']}: {status}")
    if result.get("body"):
        typer.echo(result["body"])  # TwiML verbatim, unwrapped
    if result["status"] is None or result["status"] >= 400:
        raise typer.Exit(1)


@sim_app.command()
def ledger(
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    to: Optional[str] = typer.Option(None, "--to"),
    from_: Optional[str] = typer.Option(None, "--from"),
    url: Optional[str] = UrlOpt,
) -> None:
    """Show every message the simulator accepted."""
    with _client(url) as sim:
        rows = sim.ledger(to=to, from_=from_)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} messages")
    for col in ("sid", "dir", "from", "to", "status", "error", "sent at"):
        table.add_column(col)
    for m in rows:
        table.add_row(m["sid"], m["direction"], m["from"] or "", m["to"], m["status"],
                      str(m["error_code"] or ""), m["sent_at"] or "")
    console.print(table)
