"""The dashboard's usage page: what each org cost over the last days (the same service call as
`smsrelay usage` and GET /v1/usage), Twilio's price where fetched and the estimate otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from smsrelay.service.spend import usage as spend_usage
from smsrelay.web.dashboard.deps import DashboardRoute, Operator, Refused, Rt, page

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

WINDOWS = ("1d", "7d", "30d", "90d")


@router.get("/usage", response_class=HTMLResponse)
async def usage_page(request: Request, rt: Rt, session: Operator, since: str = "30d", org: str = "") -> Response:
    if since not in WINDOWS:
        raise Refused(400, "No such window", f"Usage covers one of {', '.join(WINDOWS)}.")
    start, end = spend_usage.since_range(since)
    async with rt.pool.connection() as conn:
        d = await spend_usage.usage(conn, org or None, start, end)
    return page(request, "usage.html", session, "usage", d=d, since=since, windows=WINDOWS, org=org or None)
