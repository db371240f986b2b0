"""An org's webhooks on the dashboard: its URLs and endpoints' state, its recent deliveries with
their attempts, and a replay (a POST with the session's CSRF token, audited as dashboard:<operator>).
The work is service/events/webhooks.py's, as for the org's own routes and the CLI."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smsrelay.service.events import webhooks
from smsrelay.service.tenancy import orgs as org_service
from smsrelay.web.dashboard.deps import DashboardRoute, Form, Operator, Refused, Rt, page

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)
STATES = ("pending", "delivered", "failed")


@router.get("/orgs/{org_id}/webhooks", response_class=HTMLResponse)
async def org_webhooks(request: Request, rt: Rt, session: Operator, org_id: str, state: str = "",
                       event: str = "") -> Response:
    if state and state not in STATES:
        raise Refused(422, "No such state", f"A delivery is {', '.join(STATES)}.")
    async with rt.pool.connection() as conn:
        org = await org_service.get_org(conn, org_id)
        settings = await webhooks.settings(conn, org_id)
        deliveries = await webhooks.recent(conn, org_id, limit=100, state=state or None)
        detail = await webhooks.delivery(conn, org_id, event) if event else None
    return page(request, "webhooks.html", session, "orgs", org=org, w=settings, deliveries=deliveries,
                detail=detail, state=state, states=STATES, notice=request.query_params.get("notice"))


@router.post("/orgs/{org_id}/deliveries/{event_id}/replay")
async def replay(rt: Rt, session: Operator, form: Form, org_id: str, event_id: str) -> Response:
    async with rt.pool.connection() as conn:
        await webhooks.replay(conn, org_id, event_id, actor=session.actor, reason=form.get("reason") or None)
    return RedirectResponse(f"/dashboard/orgs/{org_id}/webhooks?event={event_id}&notice=replayed", status_code=303)
