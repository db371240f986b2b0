"""Operator actions. Each is a GET that shows what will happen (the confirmation step) and a POST
that does it, carrying the session's CSRF token. The work is the incident toolkit's own
(service/tenancy/mitigations.py, service/outbound/retry.py), which writes "AuditLog" with the actor
"dashboard:<operator>"."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smsrelay.service.tenancy import orgs as org_service
from smsrelay.service.problems import Problem
from smsrelay.web.dashboard.deps import DashboardRoute, Form, Operator, Refused, Rt, page

try:  # issue 5
    from smsrelay.service.tenancy import mitigations as _mitigations
    from smsrelay.service.outbound import retry as _retry
except ImportError:  # pragma: no cover - depends on what has landed
    _mitigations = _retry = None

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@dataclass(frozen=True)
class Action:
    title: str
    button: str
    explain: str
    org: bool = True
    rate: bool = False


ACTIONS = {
    "org-disable": Action("Disable SMS for this org", "Disable SMS",
                          "Sets \"OrgSettings\".\"smsDisabled\" = true. Every message the org sends from now on is held "
                          "(still accepted, not dropped) until SMS is enabled again; messages older than the org's "
                          "validity period then expire."),
    "org-enable": Action("Enable SMS for this org", "Enable SMS",
                         "Sets \"smsDisabled\" = false. Held messages are released, oldest first."),
    "org-throttle": Action("Throttle this org", "Set rate limit",
                           "Sets \"OrgSettings\".\"maxMessagesPerMinute\" across every worker; messages over the "
                           "limit wait, none is dropped. Leave the field empty to remove the limit.", rate=True),
    "sms-pause": Action("Pause all outbound SMS", "Pause all SMS",
                        "The runtime kill switch: every outbound send, for every org, is held until you resume. "
                        "The API keeps accepting messages.", org=False),
    "sms-resume": Action("Resume all outbound SMS", "Resume all SMS",
                         "Lifts the runtime kill switch; held messages are released.", org=False),
}


def _action(name: str) -> Action:
    action = ACTIONS.get(name)
    if action is None:
        raise Refused(404, "No such action", f"There is no action {name!r}.")
    if _mitigations is None:
        raise Refused(503, "Not available yet", "Mitigations arrive with the incident toolkit (issue 5).")
    return action


@router.get("/actions/{name}", response_class=HTMLResponse)
async def confirm(request: Request, rt: Rt, session: Operator, name: str, org: str = "") -> Response:
    action = _action(name)
    org_row = None
    if action.org:
        async with rt.pool.connection() as conn:
            org_row = await org_service.get_org(conn, org)
    return page(request, "confirm.html", session, "orgs" if action.org else "overview", action_name=name, action=action,
                org=org_row)


@router.post("/actions/{name}")
async def perform(rt: Rt, session: Operator, form: Form, name: str) -> Response:
    action = _action(name)
    reason = form.get("reason") or None
    org_id = form.get("org", "")
    async with rt.pool.connection() as conn:
        if name == "org-disable":
            await _mitigations.disable_org(conn, org_id, actor=session.actor, reason=reason)
        elif name == "org-enable":
            await _mitigations.enable_org(conn, org_id, actor=session.actor, reason=reason)
        elif name == "org-throttle":
            raw = (form.get("per_minute") or "").strip()
            if raw and not raw.isdigit():
                raise Refused(422, "Not a number", "The rate limit is a whole number of messages per minute.")
            await _mitigations.throttle_org(conn, org_id, int(raw) if raw else None, actor=session.actor, reason=reason)
        elif name == "sms-pause":
            await _mitigations.pause(conn, actor=session.actor, reason=reason)
        elif name == "sms-resume":
            await _mitigations.resume(conn, actor=session.actor, reason=reason)
    target = f"/dashboard/orgs/{org_id}" if action.org else "/dashboard"
    return RedirectResponse(f"{target}?notice={name}", status_code=303)


# --- retry: preview first, then confirm ------------------------------------------------------

def _retry_params(source: dict) -> dict:
    # As `smsrelay retry`: a cause still failing in its scope is refused with the reason; a probe
    # re-sends only the newest message whatever the state; the budget override is explicit.
    def ticked(name: str) -> bool:
        return source.get(name) in ("1", "on", "true")

    return {"since": source.get("since") or "1h", "org_id": source.get("org") or None,
            "codes": _retry.parse_codes(source.get("codes")), "force": ticked("force"),
            "refuse_still_failing": True, "probe": ticked("probe"), "ignore_budget": ticked("ignore_budget")}


@router.get("/retry", response_class=HTMLResponse)
async def retry_preview(request: Request, rt: Rt, session: Operator) -> Response:
    if _retry is None:
        raise Refused(503, "Not available yet", "Retry arrives with the incident toolkit (issue 5).")
    q = dict(request.query_params)
    plan, problem = None, None
    try:
        plan = await _retry.plan(rt, **_retry_params(q))
    except Problem as exc:  # e.g. a non-retryable code without "force": shown on the form
        problem = exc.message
    return page(request, "retry.html", session, "errors", q=q, plan=plan, problem=problem,
                retryable=", ".join(_retry.retryable_codes()))


@router.post("/retry")
async def retry_run(rt: Rt, session: Operator, form: Form) -> Response:
    if _retry is None:
        raise Refused(503, "Not available yet", "Retry arrives with the incident toolkit (issue 5).")
    plan = await _retry.plan(rt, **_retry_params(form))
    # Only what the operator saw in the preview; anything that failed since needs a new look.
    previewed = set((form.get("ids") or "").split(","))
    plan.eligible = [row for row in plan.eligible if row["id"] in previewed]
    done = await _retry.execute(rt, plan, actor=session.actor, reason=form.get("reason") or None)
    sent = sum(1 for d in done if d.retry)
    back = {"notice": "retry", "retried": sent, **{k: form[k] for k in ("since", "org", "codes", "force") if form.get(k)}}
    return RedirectResponse(f"/dashboard/retry?{urlencode(back)}", status_code=303)
