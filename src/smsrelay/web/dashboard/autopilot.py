"""The dashboard's autopilot page: its switches per cause, what it did, and a person's undo;
the same service calls as `smsrelay autopilot`, audited as "dashboard:<operator>"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smsrelay.service.operations import autopilot, autopilot_actions, autopilot_config
from smsrelay.web.dashboard.deps import DashboardRoute, Form, Operator, Rt, page

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)


@router.get("/autopilot", response_class=HTMLResponse)
async def autopilot_page(request: Request, rt: Rt, session: Operator, notice: str = "") -> Response:
    return page(request, "autopilot.html", session, "autopilot", d=await autopilot.status(rt), notice=notice or None)


@router.post("/autopilot/switch")
async def autopilot_switch(rt: Rt, session: Operator, form: Form) -> Response:
    cause = form.get("cause") or ""
    mode = form.get("mode") or "off"
    async with rt.pool.connection() as conn:
        await autopilot_config.set_enabled(conn, [cause], mode in ("on", "dry-run"), dry_run=mode == "dry-run",
                                           actor=session.actor, reason=form.get("reason") or None)
    return RedirectResponse(f"/dashboard/autopilot?notice=Autopilot {mode} for {cause}", status_code=303)


@router.post("/autopilot/actions/{action_id}/undo")
async def autopilot_undo(rt: Rt, session: Operator, form: Form, action_id: str) -> Response:
    await autopilot_actions.undo(rt, action_id, actor=session.actor, reason=form.get("reason") or None)
    return RedirectResponse(f"/dashboard/autopilot?notice=Undone {action_id}", status_code=303)
