"""`smsrelay incident status | failures | orgs | errors | diagnose | report`: the on-call
runbook's investigation steps as commands. They only read, so they connect without running
migrations (see common.run_with_runtime)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from smsrelay.cli.common import OrgOpt, Since, console, fail, preload, print_json, run_with_runtime, table, with_conn

app = typer.Typer(help="Investigate, diagnose and report an SMS incident.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Machine-readable output")]
# Traffic and failures of one channel only (sms, mms, whatsapp); the queue and workers are shared.
ChannelOpt = Annotated[Optional[str], typer.Option("--channel", help="Only this channel: sms, mms or whatsapp")]


def _window(data: dict[str, Any]) -> str:
    return (f"{data['window']['since']} → {data['window']['until']}" + (f", org {data['org']}" if data.get("org") else "")
            + (f", {data['channel']} only" if data.get("channel") else ""))


def _pct(rate: float | None) -> str:
    # domain/rates.py: delivered ÷ final outbound, as the dashboard shows it; "-" when none is final.
    return "-" if rate is None else f"{100 * rate:.1f}%"


@app.command("status")
def incident_status(since: Since = "1h", org: OrgOpt = None, as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Runbook step 1: outbound messages by status."""
    from smsrelay.service.operations import incident

    data = with_conn(incident.status, since, org, channel=channel)
    if as_json:
        return print_json(data)
    table(f"Outbound by status ({_window(data)})", ["status", "count"],
          [[s["status"], s["count"]] for s in data["statuses"]])
    console.print(f"{data['total']} outbound, {data['failed']} failed or undelivered, "
                  f"delivery rate {_pct(data['deliveryRate'])} (delivered ÷ final)")


@app.command("failures")
def incident_failures(since: Since = "1h", org: OrgOpt = None,
                      code: Annotated[Optional[str], typer.Option(help="Only this error code")] = None,
                      limit: Annotated[int, typer.Option(help="At most this many")] = 50, as_json: Json = False,
                      channel: ChannelOpt = None) -> None:
    """Runbook step 2: the latest failed and undelivered messages."""
    from smsrelay.service.operations import incident

    data = with_conn(incident.failures, since, org, code, limit, channel=channel)
    if as_json:
        return print_json(data)
    table(f"Failures ({_window(data)})", ["id", "org", "status", "from", "to", "code", "meaning", "created"],
          [[f["id"], f["orgId"], f["status"], f["from"], f["to"], f["errorCode"], f["meaning"], f["createdAt"]]
           for f in data["failures"]])


@app.command("orgs")
def incident_orgs(since: Since = "1h", org: OrgOpt = None, as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Runbook step 4: outcomes per org, most failures first."""
    from smsrelay.service.operations import incident

    data = with_conn(incident.orgs, since, org, channel=channel)
    if as_json:
        return print_json(data)
    table(f"Orgs ({_window(data)})",
          ["org", "name", "outbound", "delivered", "failed", "undelivered", "open", "delivery rate", "disabled",
           "per min"],
          [[o["orgId"], o["name"], o["total"], o["delivered"], o["failed"], o["undelivered"], o["open"],
            _pct(o["deliveryRate"]), "yes" if o["disabled"] else "", o["maxMessagesPerMinute"]]
           for o in data["orgs"]])


@app.command("errors")
def incident_errors(since: Since = "1h", org: OrgOpt = None, as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Runbook step 5: every error code seen, what it means, what to do, whether to retry."""
    from smsrelay.service.operations import incident

    data = with_conn(incident.error_codes, since, org, channel=channel)
    if as_json:
        return print_json(data)
    table(f"Error codes ({_window(data)})", ["code", "count", "orgs", "cause", "meaning", "retryable", "action"],
          [[e["code"] + (" (retrying)" if e["retrying"] else ""), e["count"], e["orgs"], e["cause"], e["meaning"],
            "yes" if e["retryable"] else "no", e["action"]] for e in data["errors"]])


@app.command("diagnose")
def incident_diagnose(since: Since = "1h", as_json: Json = False, channel: ChannelOpt = None) -> None:
    """Rank the likely causes, with evidence, a confidence and the commands to run."""
    preload("smsrelay.twilio.gateway")  # asked while the queries run
    from smsrelay.service.operations import incident

    data = run_with_runtime(lambda rt: incident.diagnose(rt, since, channel=channel))
    if as_json:
        return print_json(data)
    console.print(f"[bold]Diagnosis[/bold] {data['window']['since']} → {data['window']['until']}")
    for i, c in enumerate(data["causes"]):
        if i and c["confidence"] < 0.2 and c["state"] == "live":
            continue
        _print_cause(c)


def _print_cause(c: dict[str, Any]) -> None:
    """A live cause with what to run now, then its fix, then what is safe only after the fix;
    a resolved one says when it stopped."""
    when = ""
    if c.get("state") == "resolved":
        when = f" [resolved at {c['resolvedAt']}]"
    elif c.get("lastSeen"):
        when = f" [live since {c['onset']}, last failure {c['lastSeen']}, {c['trend']}]"
    console.print(f"\n[bold]{c['cause']}[/bold]  confidence {c['confidence']:.2f}: ", end="", highlight=False)
    console.print(c["summary"] + when, markup=False, highlight=False)
    for e in c["evidence"]:
        console.print(f"  • {e}", markup=False, highlight=False)
    for a in c["actions"]:
        console.print(f"  $ {a}", markup=False, highlight=False)
    if c.get("afterFix"):
        console.print(f"  then, once fixed ({c.get('fix') or 'the cause above'}):", markup=False, highlight=False)
        for a in c["afterFix"]:
            console.print(f"  $ {a}", markup=False, highlight=False)
    elif c.get("fix") and c.get("state") != "resolved":
        console.print(f"  fix: {c['fix']}", markup=False, highlight=False)
    for t in c.get("templates", [])[:3]:  # service/operations/template_incident.py
        console.print(f"  template {t['template']} v{t['version']}: {100 * t['share']:.0f}% — {t['body']}",
                      markup=False, highlight=False)
        for f in t["findings"]:
            console.print(f"    {f['severity']} {f['code']}: {f['message']}", markup=False, highlight=False)


@app.command("report")
def incident_report(since: Since = "2h",
                    out: Annotated[Optional[Path], typer.Option("--out", help="Write the Markdown here")] = None) -> None:
    """A Markdown post-incident report (timeline, root-cause draft, affected orgs, checklist)."""
    preload("smsrelay.twilio.gateway")  # the diagnosis asks Twilio while the queries run
    from smsrelay.service.operations import report

    text = run_with_runtime(lambda rt: report.build(rt, since))
    if out is None:
        print(text, end="")
        return
    try:
        out.write_text(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    console.print(f"report written to {out}")
