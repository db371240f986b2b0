"""The dashboard's pages and the fragments its script refreshes. Handlers only read parameters,
call a read model (service/operations/dashboard.py, service/operations/incident.py) and render."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from smsrelay.service.operations import dashboard as board
from smsrelay.service.operations import operator_sessions
from smsrelay.web.dashboard.auth import LOGIN_COOKIE, LOGIN_FORM_SECONDS, SESSION_COOKIE
from smsrelay.web.dashboard.deps import AuthDep, DashboardRoute, Form, Operator, Rt, page
from smsrelay.web.dashboard.render import HERE

try:  # issue 5
    from smsrelay.service.operations import incident as _incident
except ImportError:  # pragma: no cover - depends on what has landed
    _incident = None

router = APIRouter(prefix="/dashboard", route_class=DashboardRoute, include_in_schema=False)

NOTICES = {
    "org-disable": "SMS disabled for the org: its messages are held, not dropped.",
    "org-enable": "SMS enabled for the org: held messages are being released, oldest first.",
    "org-throttle": "The org's rate limit is changed.",
    "sms-pause": "All outbound SMS paused: messages are held until you resume.",
    "sms-resume": "Outbound SMS resumed: held messages are being released.",
    "retry": "Retry queued.",
    "logout": "You are logged out.",
}


def _safe_next(target: str | None) -> str:
    # Only our own pages: an open redirect after login is a phishing aid.
    if target and target.startswith("/dashboard") and "//" not in target and "\\" not in target:
        return target
    return "/dashboard"


def _notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("notice", ""))


# --- login -----------------------------------------------------------------------------------

def _login_page(request: Request, a, error: str | None, status_code: int, next_target: str | None = None) -> Response:
    cookie, token = a.login_token()
    resp = page(request, "login.html", None, None, status_code=status_code, login_token=token, error=error,
                next=_safe_next(next_target or request.query_params.get("next")), hint=a.creds.hint,
                closed=a.creds.hash is None, notice=_notice(request))
    resp.set_cookie(LOGIN_COOKIE, cookie, max_age=LOGIN_FORM_SECONDS, **a.cookie_args("/dashboard/login"))
    return resp


def _client(request: Request) -> str:
    # uvicorn already puts a trusted proxy's X-Forwarded-For here (FORWARDED_ALLOW_IPS).
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, a: AuthDep) -> Response:
    return _login_page(request, a, None, 200)


@router.post("/login")
async def login(request: Request, rt: Rt, a: AuthDep) -> Response:
    form = await request.form()
    user, target = str(form.get("username", "")), str(form.get("next", ""))
    nonce = a.login_nonce(request, str(form.get("login_token") or ""))
    if nonce is None:
        return _login_page(request, a, "The login form expired or did not come from this site; try again.", 403,
                           target)
    async with rt.pool.connection() as conn:
        try:
            # Counted before the password is checked: over the limit, no hash is computed at all.
            await operator_sessions.count_attempt(conn, rt.settings, user, _client(request))
        except operator_sessions.TooManyAttempts as exc:
            resp = _login_page(request, a, f"Too many login attempts for this {exc.scope}; try again in "
                                           f"{exc.retry_after} seconds.", 429, target)
            resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        fresh = await operator_sessions.use_login_form(conn, nonce, LOGIN_FORM_SECONDS)
    if not fresh:
        return _login_page(request, a, "This login form was already used; try again.", 403, target)
    if not await a.verify(user, str(form.get("password", ""))):
        return _login_page(request, a, "Wrong user name or password.", 401, target)
    async with rt.pool.connection() as conn:
        await operator_sessions.forgive_client(conn, _client(request))
    resp = RedirectResponse(_safe_next(target), status_code=303)
    resp.set_cookie(SESSION_COOKIE, await a.issue(rt, a.creds.user), max_age=a.max_age, **a.cookie_args())
    resp.delete_cookie(LOGIN_COOKIE, path="/dashboard/login")
    return resp


@router.post("/logout")
async def logout(rt: Rt, a: AuthDep, session: Operator, _: Form) -> Response:
    # Ended in the database: a copy of the cookie (another tab, a stolen one) is no session either.
    await a.end(rt, session)
    resp = RedirectResponse("/dashboard/login?notice=logout", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return resp


# --- pages -----------------------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
async def overview(request: Request, rt: Rt, session: Operator, window: str = "1h", channel: str = "") -> Response:
    data = await board.overview(rt, window, channel)
    return page(request, "overview.html", session, "overview", d=data, notice=_notice(request),
                windows=board.WINDOWS)


@router.get("/fragments/overview", response_class=HTMLResponse)
async def overview_fragment(request: Request, rt: Rt, session: Operator, window: str = "1h",
                            channel: str = "") -> Response:
    return page(request, "_overview.html", session, "overview", d=await board.overview(rt, window, channel))


@router.get("/orgs", response_class=HTMLResponse)
async def orgs(request: Request, rt: Rt, session: Operator, window: str = "1h", sort: str = "failed",
               order: str = "desc", channel: str = "") -> Response:
    data = await board.orgs_table(rt, window, sort, order != "asc", channel)
    return page(request, "orgs.html", session, "orgs", d=data, windows=board.WINDOWS, sorts=board.ORG_SORTS)


@router.get("/fragments/orgs", response_class=HTMLResponse)
async def orgs_fragment(request: Request, rt: Rt, session: Operator, window: str = "1h", sort: str = "failed",
                        order: str = "desc", channel: str = "") -> Response:
    data = await board.orgs_table(rt, window, sort, order != "asc", channel)
    return page(request, "_orgs.html", session, "orgs", d=data, sorts=board.ORG_SORTS)


@router.get("/orgs/{org_id}", response_class=HTMLResponse)
async def org(request: Request, rt: Rt, session: Operator, org_id: str, window: str = "24h",
              channel: str = "") -> Response:
    data = await board.org_detail(rt, org_id, window, channel)
    return page(request, "org.html", session, "orgs", d=data, windows=board.WINDOWS, notice=_notice(request))


@router.get("/errors", response_class=HTMLResponse)
async def errors(request: Request, rt: Rt, session: Operator, window: str = "1h", channel: str = "") -> Response:
    return page(request, "errors.html", session, "errors", d=await board.error_codes(rt, window, channel),
                windows=board.WINDOWS)


@router.get("/fragments/errors", response_class=HTMLResponse)
async def errors_fragment(request: Request, rt: Rt, session: Operator, window: str = "1h",
                          channel: str = "") -> Response:
    return page(request, "_errors.html", session, "errors", d=await board.error_codes(rt, window, channel))


@router.get("/messages", response_class=HTMLResponse)
async def messages(request: Request, rt: Rt, session: Operator, id: str = "", to: str = "", org: str = "",
                   status: str = "", direction: str = "outbound", window: str = "24h", channel: str = "") -> Response:
    q = board.Search(id=id.strip() or None, to=to.strip() or None, org=org.strip() or None,
                     status=status.strip() or None, direction=direction, window=window,
                     channel=channel.strip().lower() or None)
    data = await board.search(rt, q)
    if data["exact"] is not None:
        return RedirectResponse(f"/dashboard/messages/{data['exact']['id']}", status_code=303)
    return page(request, "messages.html", session, "messages", d=data, q=q, windows=board.WINDOWS)


@router.get("/messages/{message_id}", response_class=HTMLResponse)
async def message(request: Request, rt: Rt, session: Operator, message_id: str) -> Response:
    return page(request, "message.html", session, "messages", d=await board.message_detail(rt, message_id))


@router.post("/messages/{message_id}/reveal", response_class=HTMLResponse)
async def reveal_number(request: Request, rt: Rt, session: Operator, form: Form, message_id: str) -> Response:
    # Shown in this response only, never remembered: each reveal is asked for and audited.
    data = await board.message_detail(rt, message_id, reveal_for=session.actor, reason=form.get("reason"))
    resp = page(request, "message.html", session, "messages", d=data)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@router.get("/diagnosis", response_class=HTMLResponse)
async def diagnosis(request: Request, rt: Rt, session: Operator, since: str = "1h", live: bool = True,
                    channel: str = "") -> Response:
    channel = board.channel_of(channel)
    result = await _incident.diagnose(rt, since, live=live, channel=channel) if _incident is not None else None
    return page(request, "diagnosis.html", session, "diagnosis", result=result, since=since, live=live,
                available=_incident is not None, channel=channel)


# --- static assets (two small files, served from the package: no CDN, no network) -------------

_STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in _STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response((HERE / "static" / name).read_bytes(), media_type=_STATIC[name],
                    headers={"Cache-Control": "public, max-age=300"})
