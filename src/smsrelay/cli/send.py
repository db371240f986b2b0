"""`smsrelay send | retry | lint`: queue an SMS, re-send failed ones, check a text before sending."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from smsrelay.cli.common import OrgOpt, Since, actor, console, err, org_ref, print_json, run_with_runtime, table


def send(text: str, org: Annotated[str, typer.Option(help="Org id or name", callback=org_ref)],
         to: Annotated[str, typer.Option(help="Recipient, E.164")],
         from_: Annotated[Optional[str], typer.Option("--from", help="Sender number")] = None,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Queue an SMS for an org, exactly as the API would."""
    from smsrelay.service.outbound import messages

    async def go(rt: Any) -> Any:
        async with rt.pool.connection() as conn:
            return await messages.accept_idempotent(conn, org, to=to, body=text, from_=from_, idempotency_key=None)

    _, body = run_with_runtime(go)
    if as_json:
        print(json.dumps(body))
    else:
        console.print(f"{body['id']} {body['status']} → {body['to']} ({body['segments']} segment(s), {body['encoding']})")


# --- retry ------------------------------------------------------------------------------------

def retry_command(since: Since = "1h", org: OrgOpt = None,
                  codes: Annotated[Optional[str], typer.Option(help="Comma-separated codes (default: every retryable one)")] = None,
                  dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be re-sent")] = False,
                  yes: Annotated[bool, typer.Option("--yes", help="Allow codes Twilio says not to retry")] = False,
                  as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
                  ignore_budget: Annotated[bool, typer.Option(
                      "--ignore-budget", help="Also re-send messages whose retry budget is used up, once more "
                                              "(an explicit override: each re-send is audited)")] = False,
                  probe: Annotated[bool, typer.Option(
                      "--probe", help="Re-send only the newest matching message, even while its cause still "
                                      "fails: the test that a fix worked")] = False) -> None:
    """Re-send failed outbound messages once each, through the guards, recording lineage.

    Refuses (exit 2, with the reason) while the cause still fails: a code failed in the last
    15 minutes in the same org, sender and country and nothing got through there since. Fix
    the cause, then retry; or send one message with --probe first."""
    from smsrelay.domain import catalogue
    from smsrelay.service.outbound import retry

    wanted = retry.parse_codes(codes)  # a bad code is a Problem: one line, exit 2
    forced = [c for c in (wanted or []) if not catalogue.is_retryable(c)]
    if forced and yes:
        err.print(f"warning: Twilio says {', '.join(forced)} will not succeed on a retry"
                  + "; retrying anyway (--yes)", markup=False, highlight=False)

    if ignore_budget:
        err.print("warning: --ignore-budget: messages whose retry budget is used up are re-sent once more",
                  markup=False, highlight=False)

    async def go(rt: Any) -> dict[str, Any]:
        from smsrelay.service import problems

        p = await retry.plan(rt, since=since, org_id=org, codes=wanted, force=yes, ignore_budget=ignore_budget,
                             refuse_still_failing=True, probe=probe)
        if p.refusal() is not None:
            raise problems.RETRY_STILL_FAILING(reason=p.refusal())
        if not as_json:
            _preview(p)
        if dry_run or not p.eligible:
            return {**p.to_dict(), "dryRun": dry_run, "retried": []}
        if as_json:
            done = await retry.execute(rt, p, actor=actor())
        else:
            with Progress(TextColumn("re-sending"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
                task = bar.add_task("retry", total=len(p.eligible))
                done = await retry.execute(rt, p, actor=actor(), progress=lambda _: bar.advance(task))
        return {**p.to_dict(), "dryRun": False,
                "retried": [{"original": d.original, "retry": d.retry} for d in done if d.retry]}

    data = run_with_runtime(go)
    if as_json:
        return print_json(data)
    if data["dryRun"]:
        console.print(f"dry run: {len(data['eligible'])} message(s) would be re-sent")
    else:
        console.print(f"{len(data['retried'])} message(s) re-sent; {len(data['skipped'])} skipped")


def _preview(p: Any) -> None:
    rows = [[r["id"], r["orgId"], r["from"], r["to"], r["code"], r["generation"], "re-send"] for r in p.to_dict()["eligible"]]
    rows += [[r["id"], r["orgId"], r["from"], r["to"], r["code"], r["generation"], r["reason"]]
             for r in p.to_dict()["skipped"]]
    table(f"Retry preview ({p.window['since']} → {p.window['until']}; codes {', '.join(p.codes)})",
          ["message", "org", "from", "to", "code", "retries so far", "plan"], rows)


# --- lint ---------------------------------------------------------------------------------------

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def lint_command(text: Annotated[str, typer.Argument(help="Message text, or - to read it from stdin")],
                 as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
                 first_message: Annotated[bool, typer.Option(
                     "--first-message", help="Also require opt-out words, as for a first message (A2P)")] = False) -> None:
    """Encoding, segments and content findings for a message, as Twilio counts them.

    Exits 1 when a finding is an error (empty, over 1600 characters)."""
    from smsrelay.domain import lint

    body = sys.stdin.read() if text == "-" else text
    result = lint.lint(body, first_message_to_recipient=first_message)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        console.print(f"{result.encoding} · {result.segments} segment(s) · {result.characters} character(s)",
                      highlight=False)
        for f in result.findings:
            console.print(f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/] {f.code}: ", end="", highlight=False)
            console.print(f.message, markup=False, highlight=False)
        if not result.findings:
            console.print("no findings")
    if any(f.severity == "error" for f in result.findings):
        raise typer.Exit(1)
