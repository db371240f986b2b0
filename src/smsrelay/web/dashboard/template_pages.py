"""The dashboard's template pages: an org's templates, one template with its text, findings,
versions and held messages, and the template hold (disable, enable) behind a confirmation
form carrying the session's CSRF token. The work is service/templates' own, which audits it
with the actor "dashboard:<operator>"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smsrelay.service.templates import catalog, hold
from smsrelay.service.tenancy import orgs as org_service
from smsrelay.web.dashboard.deps import DashboardRoute, Form, Operator, Refused, Rt, page

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

NOTICES = {
    "disable": "Template disabled: its messages are held, not dropped; the org's other messages keep flowing.",
    "enable": "Template enabled: its held messages are being released, each once.",
}


@router.get("/orgs/{org_id}/templates", response_class=HTMLResponse)
async def templates(request: Request, rt: Rt, session: Operator, org_id: str) -> Response:
    async with rt.pool.connection() as conn:
        org = await org_service.get_org(conn, org_id)
        rows = await catalog.search(conn, org_id, archived=True)
    return page(request, "templates.html", session, "orgs", org=org, templates=rows)


@router.get("/orgs/{org_id}/templates/{name}", response_class=HTMLResponse)
async def template(request: Request, rt: Rt, session: Operator, org_id: str, name: str,
                   confirm: str = "") -> Response:
    async with rt.pool.connection() as conn:
        org = await org_service.get_org(conn, org_id)
        t = await catalog.get(conn, org_id, name, versions=20)
    action = confirm if confirm in NOTICES else None
    return page(request, "template.html", session, "orgs", org=org, t=t, confirm=action,
                notice=NOTICES.get(request.query_params.get("notice", "")))


@router.post("/orgs/{org_id}/templates/{name}/{action}")
async def switch(rt: Rt, session: Operator, form: Form, org_id: str, name: str, action: str) -> Response:
    if action not in NOTICES:
        raise Refused(404, "No such action", f"There is no template action {action!r}.")
    fn = hold.disable if action == "disable" else hold.enable
    async with rt.pool.connection() as conn:
        await fn(conn, org_id, name, actor=session.actor, reason=form.get("reason") or None)
    return RedirectResponse(f"/dashboard/orgs/{org_id}/templates/{name}?notice={action}", status_code=303)
