"""What every dashboard route shares: the operator's session, the CSRF check, and errors shown
as pages (the public API's JSON errors would be a poor sight in a browser)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute

from smsrelay.service.problems import Problem
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import runtime
from smsrelay.web.dashboard.auth import Auth, Session, csrf_ok, get_auth
from smsrelay.web.dashboard.render import templates

NAV = (("overview", "/dashboard", "Overview"), ("orgs", "/dashboard/orgs", "Orgs"),
       ("errors", "/dashboard/errors", "Errors"), ("messages", "/dashboard/messages", "Messages"),
       ("diagnosis", "/dashboard/diagnosis", "Diagnosis"), ("autopilot", "/dashboard/autopilot", "Autopilot"),
       ("usage", "/dashboard/usage", "Usage"))


class LoginRequired(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, title: str, message: str):
        self.status, self.title, self.message = status, title, message


def _wants_fragment(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch" or "/fragments/" in request.url.path


class DashboardRoute(APIRoute):
    """Turns a missing session into the login page and any refusal into an HTML page."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                if _wants_fragment(request) or request.method != "GET":
                    return PlainTextResponse("Your session has ended; log in again.", status_code=401)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/dashboard/login?next={quote(target)}", status_code=303)
            except Refused as exc:
                return error_page(request, exc.status, exc.title, exc.message)
            except Problem as exc:
                return error_page(request, exc.status, exc.code.replace("_", " ").capitalize(), exc.message)

        return route


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    if _wants_fragment(request):
        return PlainTextResponse(message, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"title": title, "message": message, "nav": NAV,
                                                              "active": None, "session": None}, status_code=status)


Rt = Annotated[Runtime, Depends(runtime)]


async def auth(rt: Rt) -> Auth:
    return await get_auth(rt)


AuthDep = Annotated[Auth, Depends(auth)]


async def operator(request: Request, rt: Rt, a: AuthDep) -> Session:
    session = await a.session(rt, request)
    if session is None:
        raise LoginRequired()
    return session


Operator = Annotated[Session, Depends(operator)]


async def checked_form(request: Request, session: Operator) -> dict[str, Any]:
    """The posted form, once its CSRF token matches the session's; anything else is refused
    before the action runs."""
    form = await request.form()
    if not csrf_ok(session, form.get("csrf_token")):
        raise Refused(403, "Refused: missing or wrong security token",
                      "This form's CSRF token is missing or does not match your session, so nothing was changed. "
                      "Go back, reload the page and try again.")
    origin = request.headers.get("origin")
    allowed = {str(request.base_url).rstrip("/"), request.app.state.runtime.settings.public_base_url.rstrip("/")}
    if origin and origin not in allowed:
        raise Refused(403, "Refused: cross-site request", "The request came from another site; nothing was changed.")
    return {k: v for k, v in form.items() if isinstance(v, str)}


Form = Annotated[dict, Depends(checked_form)]


def page(request: Request, template: str, session: Session | None, active: str | None, status_code: int = 200,
         **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"session": session, "nav": NAV, "active": active, **context},
                                      status_code=status_code)
