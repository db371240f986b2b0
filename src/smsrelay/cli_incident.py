"""`smsrelay incident|retry|twilio|org disable|enable|throttle`: the on-call runbook as commands.

Mounted by cli.register's caller (smsrelay.cli). These commands only read or make small writes,
so they connect without running migrations, fail fast on an unreachable database, and print
one line on any expected error.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

T = TypeVar("T")
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

incident_app = typer.Typer(help="Investigate, diagnose and report an SMS incident.", no_args_is_help=True)
twilio_app = typer.Typer(help="Live checks of the Twilio account, through the SDK.", no_args_is_help=True)

Since = Annotated[str, typer.Option("--since", help="Window ending now: 30m, 1h, 2d")]
OrgOpt = Annotated[Optional[str], typer.Option("--org", help="Only this org")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
Reason = Annotated[Optional[str], typer.Option("--reason", help="Why: recorded in the audit log")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def fail(message: str, code: int = 1) -> None:
    # soft_wrap: one line however narrow the terminal, so scripts can read it.
    err.print(f"smsrelay: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def _one_line(exc: BaseException) -> str:
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return (text or type(exc).__name__)[:300]


async def _runtime_call(fn: Callable[[Any], Awaitable[T]]) -> T:
    import psycopg

    from smsrelay.database import resolve_url
    from smsrelay.service.runtime import Runtime
    from smsrelay.settings import get_settings
    from smsrelay.store.db import psycopg_url

    settings = get_settings()
    url = resolve_url(settings, upgrade=not settings.database_url)
    # A pool retries an unreachable server for its whole timeout; one direct attempt fails fast.
    probe = await psycopg.AsyncConnection.connect(psycopg_url(url), connect_timeout=5)
    await probe.close()
    rt = Runtime.create(settings, url, pool_size=4, name="smsrelay-incident")  # diagnose asks in 3 at once
    await rt.open()
    try:
        return await fn(rt)
    finally:
        await rt.close()


def run(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run a use case; expected failures become one line on stderr and a non-zero exit."""
    import psycopg
    from psycopg_pool import PoolTimeout

    from smsrelay.service.problems import Problem

    try:
        return asyncio.run(_runtime_call(fn))
    except Problem as exc:
        fail(f"{exc.message} ({exc.code})", 2 if exc.status < 500 else 1)
    except psycopg.errors.UndefinedTable as exc:
        fail(f"the database has no smsrelay schema ({_one_line(exc)}); run `smsrelay db upgrade`")
    except (psycopg.OperationalError, PoolTimeout) as exc:
        fail(f"cannot reach the database: {_one_line(exc)}")
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy and others wrap connection errors their own way
        if type(exc).__name__ in ("Exit", "Abort"):
            raise
        if "OperationalError" in type(exc).__name__:
            fail(f"cannot reach the database: {_one_line(getattr(exc, 'orig', None) or exc)}")
        fail(f"{type(exc).__name__}: {_one_line(exc)}")
    raise AssertionError("unreachable")


def _conn_call(fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    async def go(rt: Any) -> T:
        async with rt.pool.connection() as conn:
            return await fn(conn, *args, **kwargs)

    return run(go)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    console.print(table)


def _window(data: dict[str, Any]) -> str:
    return f"{data['window']['since']} → {data['window']['until']}" + (f", org {data['org']}" if data.get("org") else "")


# --- incident ---------------------------------------------------------------------------------

@incident_app.command("status")
def incident_status(since: Since = "1h", org: OrgOpt = None, as_json: Json = False) -> None:
    """Runbook step 1: outbound messages by status."""
    from smsrelay.service.operations import incident

    data = _conn_call(incident.status, since, org)
    if as_json:
        return _print_json(data)
    _table(f"Outbound by status ({_window(data)})", ["status", "count"],
           [[s["status"], s["count"]] for s in data["statuses"]])
    console.print(f"{data['total']} outbound, {data['failed']} failed or undelivered "
                  f"({100 * data['failureRate']:.1f}%)")


@incident_app.command("failures")
def incident_failures(since: Since = "1h", org: OrgOpt = None,
                      code: Annotated[Optional[str], typer.Option(help="Only this error code")] = None,
                      limit: Annotated[int, typer.Option(help="At most this many")] = 50, as_json: Json = False) -> None:
    """Runbook step 2: the latest failed and undelivered messages."""
    from smsrelay.service.operations import incident

    data = _conn_call(incident.failures, since, org, code, limit)
    if as_json:
        return _print_json(data)
    _table(f"Failures ({_window(data)})", ["id", "org", "status", "from", "to", "code", "meaning", "created"],
           [[f["id"], f["orgId"], f["status"], f["from"], f["to"], f["errorCode"], f["meaning"], f["createdAt"]]
            for f in data["failures"]])


@incident_app.command("orgs")
def incident_orgs(since: Since = "1h", org: OrgOpt = None, as_json: Json = False) -> None:
    """Runbook step 4: outcomes per org, most failures first."""
    from smsrelay.service.operations import incident

    data = _conn_call(incident.orgs, since, org)
    if as_json:
        return _print_json(data)
    _table(f"Orgs ({_window(data)})",
           ["org", "name", "outbound", "delivered", "failed", "undelivered", "open", "rate", "disabled", "per min"],
           [[o["orgId"], o["name"], o["total"], o["delivered"], o["failed"], o["undelivered"], o["open"],
             f"{100 * o['failureRate']:.1f}%", "yes" if o["smsDisabled"] else "", o["maxMessagesPerMinute"]]
            for o in data["orgs"]])


@incident_app.command("errors")
def incident_errors(since: Since = "1h", org: OrgOpt = None, as_json: Json = False) -> None:
    """Runbook step 5: every error code seen, what it means, what to do, whether to retry."""
    from smsrelay.service.operations import incident

    data = _conn_call(incident.error_codes, since, org)
    if as_json:
        return _print_json(data)
    _table(f"Error codes ({_window(data)})", ["code", "count", "orgs", "cause", "meaning", "retryable", "action"],
           [[e["code"] + (" (retrying)" if e["retrying"] else ""), e["count"], e["orgs"], e["cause"], e["meaning"],
             "yes" if e["retryable"] else "no", e["action"]] for e in data["errors"]])


@incident_app.command("diagnose")
def incident_diagnose(since: Since = "1h", as_json: Json = False) -> None:
    """Rank the likely causes, with evidence, a confidence and the commands to run."""
    from smsrelay.service.operations import incident

    data = run(lambda rt: incident.diagnose(rt, since))
    if as_json:
        return _print_json(data)
    console.print(f"[bold]Diagnosis[/bold] {data['window']['since']} → {data['window']['until']}")
    for i, c in enumerate(data["causes"]):
        if i and c["confidence"] < 0.2:
            continue
        console.print(f"\n[bold]{c['cause']}[/bold]  confidence {c['confidence']:.2f}: {c['summary']}",
                      highlight=False)
        for e in c["evidence"]:
            console.print(f"  • {e}", markup=False, highlight=False)
        for a in c["actions"]:
            console.print(f"  $ {a}", markup=False, highlight=False)


@incident_app.command("report")
def incident_report(since: Since = "2h",
                    out: Annotated[Optional[Path], typer.Option("--out", help="Write the Markdown here")] = None) -> None:
    """A Markdown post-incident report (timeline, root-cause draft, affected orgs, checklist)."""
    from smsrelay.service.operations import report

    text = run(lambda rt: report.build(rt, since))
    if out is None:
        print(text, end="")
        return
    try:
        out.write_text(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    console.print(f"report written to {out}")


# --- retry ------------------------------------------------------------------------------------

def retry_command(since: Since = "1h", org: OrgOpt = None,
                  codes: Annotated[Optional[str], typer.Option(help="Comma-separated codes (default: every retryable one)")] = None,
                  dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be re-sent")] = False,
                  yes: Annotated[bool, typer.Option("--yes", help="Allow codes Twilio says not to retry")] = False,
                  as_json: Json = False) -> None:
    """Re-send failed outbound messages once each, through the guards, recording lineage."""
    from smsrelay.domain import catalogue
    from smsrelay.service.outbound import retry

    from smsrelay.service.problems import Problem

    try:
        wanted = retry.parse_codes(codes)
    except Problem as exc:
        fail(f"{exc.message} ({exc.code})", 2)
    forced = [c for c in (wanted or []) if not catalogue.is_retryable(c)]
    if forced and yes:
        err.print(f"warning: Twilio says {', '.join(forced)} will not succeed on a retry"
                  + "; retrying anyway (--yes)", markup=False, highlight=False)

    async def go(rt: Any) -> dict[str, Any]:
        p = await retry.plan(rt, since=since, org_id=org, codes=wanted, force=yes)
        if not as_json:
            _preview(p)
        if dry_run or not p.eligible:
            return {**p.to_dict(), "dryRun": dry_run, "retried": []}
        if as_json:
            done = await retry.execute(rt, p, actor=_actor())
        else:
            with Progress(TextColumn("re-sending"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
                task = bar.add_task("retry", total=len(p.eligible))
                done = await retry.execute(rt, p, actor=_actor(), progress=lambda _: bar.advance(task))
        return {**p.to_dict(), "dryRun": False,
                "retried": [{"original": d.original, "retry": d.retry} for d in done if d.retry]}

    data = run(go)
    if as_json:
        return _print_json(data)
    if data["dryRun"]:
        console.print(f"dry run: {len(data['eligible'])} message(s) would be re-sent")
    else:
        console.print(f"{len(data['retried'])} message(s) re-sent; {len(data['skipped'])} skipped")


def _preview(p: Any) -> None:
    rows = [[r["id"], r["orgId"], r["from"], r["to"], r["code"], r["generation"], "re-send"] for r in p.to_dict()["eligible"]]
    rows += [[r["id"], r["orgId"], r["from"], r["to"], r["code"], r["generation"], r["reason"]]
             for r in p.to_dict()["skipped"]]
    _table(f"Retry preview ({p.window['since']} → {p.window['until']}; codes {', '.join(p.codes)})",
           ["message", "org", "from", "to", "code", "retries so far", "plan"], rows)


# --- twilio -----------------------------------------------------------------------------------

@twilio_app.command("balance")
def twilio_balance(as_json: Json = False) -> None:
    """The account balance (runbook: check account balance)."""
    from smsrelay.service.operations import incident

    data = run(incident.twilio_balance)
    if as_json:
        return _print_json(data)
    console.print(f"balance: {data['balance']} {data['currency']}")


@twilio_app.command("account")
def twilio_account(as_json: Json = False) -> None:
    """The account's status (active, suspended, closed): also proves the credentials work."""
    from smsrelay.service.operations import incident

    data = run(incident.twilio_account)
    if as_json:
        return _print_json(data)
    console.print(f"account {data['sid']} ({data['friendly_name']}): status {data['status']}, type {data['type']}")


def _numbers_table(numbers: list[dict[str, Any]]) -> None:
    _table("Twilio numbers", ["number", "sid", "status", "sms", "sms url"],
           [[n["phone_number"], n["sid"], n["status"], "yes" if (n["capabilities"] or {}).get("sms") else "no",
             n["sms_url"]] for n in numbers])


@twilio_app.command("numbers")
def twilio_numbers(as_json: Json = False) -> None:
    """Every number on the account with its status and SMS capability."""
    from smsrelay.service.operations import incident

    data = run(incident.twilio_numbers)
    if as_json:
        return _print_json(data)
    _numbers_table(data)


@twilio_app.command("number")
def twilio_number(number: Annotated[str, typer.Argument(help="E.164, e.g. +15017122661")], as_json: Json = False) -> None:
    """One number (the runbook's `twilio phone-numbers:fetch +1XXXXXXXXXX`)."""
    from smsrelay.service.operations import incident

    data = run(lambda rt: incident.twilio_numbers(rt, number))
    if as_json:
        return _print_json(data[0])
    _numbers_table(data)


# --- mitigations ------------------------------------------------------------------------------

def _show_org(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return _print_json(data)
    rate = data["maxMessagesPerMinute"]
    console.print(f"org {data['orgId']}: SMS {'disabled' if data['smsDisabled'] else 'enabled'}, "
                  f"{'no rate limit' if rate is None else f'at most {rate} per minute'}")


def org_disable(org: Annotated[str, typer.Argument(help="Org id")], reason: Reason = None, as_json: Json = False) -> None:
    """Hold every outbound SMS of one org (runbook: "Disable SMS for affected org")."""
    from smsrelay.service.tenancy import mitigations

    _show_org(_conn_call(mitigations.disable_org, org, actor=_actor(), reason=reason), as_json)


def org_enable(org: Annotated[str, typer.Argument(help="Org id")], reason: Reason = None, as_json: Json = False) -> None:
    """Lift an org's disable; its held messages go out, oldest first."""
    from smsrelay.service.tenancy import mitigations

    _show_org(_conn_call(mitigations.enable_org, org, actor=_actor(), reason=reason), as_json)


def org_throttle(org: Annotated[str, typer.Argument(help="Org id")],
                 per_minute: Annotated[Optional[int], typer.Option("--per-minute", help="Messages per minute")] = None,
                 off: Annotated[bool, typer.Option("--off", help="Remove the limit")] = False,
                 reason: Reason = None, as_json: Json = False) -> None:
    """Limit an org's send rate (runbook: "Lower message rate")."""
    from smsrelay.service.tenancy import mitigations

    if off == (per_minute is not None):
        fail("give exactly one of --per-minute N or --off", 2)
    _show_org(_conn_call(mitigations.throttle_org, org, None if off else per_minute, actor=_actor(), reason=reason),
              as_json)


def register(app: typer.Typer, org_app: typer.Typer) -> None:
    app.add_typer(incident_app, name="incident")
    app.add_typer(twilio_app, name="twilio")
    app.command("retry")(retry_command)
    org_app.command("disable")(org_disable)
    org_app.command("enable")(org_enable)
    org_app.command("throttle")(org_throttle)
    # `smsrelay sms pause|resume|status` belongs to the guardrails (cli_guardrails).
