"""The dashboard login against the attacks a public service meets (issue 15): guessing (limits per
account and per client, shared by API processes), a replayed login form, a session cookie kept
after logout or after a password change, and a login flood starving the event loop that serves
Twilio's webhooks."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest
from twilio.request_validator import RequestValidator

from smsrelay.service.runtime import Runtime
from smsrelay.web.app import create_app
from tests.support.servers import ThreadedServer
from tests.web.dashboard.helpers import PASSWORD, csrf_token, log_in, login_form, post_login, settings as _settings


class OtherApi:
    """A second API process on the same database (and the same session secret)."""

    def __init__(self, stack, **overrides):
        settings = stack.settings.model_copy(update=overrides)
        self.server = ThreadedServer(create_app(Runtime.create(settings, stack.database_url, pool_size=3))).start()

    def __enter__(self) -> ThreadedServer:
        return self.server

    def __exit__(self, *exc) -> None:
        self.server.stop()


def test_login__attempts_are_limited_per_client_with_retry_after(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=_settings(
        tmp_path, dashboard_login_attempts_per_client=3, dashboard_login_attempts_per_account=100))
    with stack.client() as http:
        for _ in range(3):
            assert log_in(http, "guess").status_code == 401
        refused = log_in(http)  # the right password, but this client has used its attempts
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 900
        assert "Too many login attempts" in refused.text
        assert "smsrelay_dash" not in http.cookies
        # Another client is not held back by this one.
        assert log_in(http, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 303


def test_login__attempts_are_limited_per_account_across_clients_and_processes(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=_settings(
        tmp_path, dashboard_login_attempts_per_client=100, dashboard_login_attempts_per_account=4))
    with OtherApi(stack) as other, stack.client() as a, httpx.Client(base_url=other.url) as b:
        for i, http in enumerate((a, b, a, b)):  # four clients, two API processes, one account
            assert log_in(http, "guess", **{"X-Forwarded-For": f"198.51.100.{i}"}).status_code == 401
        for http in (a, b):
            resp = log_in(http, **{"X-Forwarded-For": "198.51.100.77"})
            assert resp.status_code == 429, "the account's limit is shared by every client and API process"
            assert int(resp.headers["Retry-After"]) >= 1


def test_login__a_login_form_can_be_posted_once(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=_settings(tmp_path))
    def replay(token: str, cookie: str, password: str = PASSWORD) -> httpx.Response:
        # What an attacker holding a copy of one form and its cookie would send, again and again.
        with httpx.Client(base_url=stack.api_url, cookies={"smsrelay_dash_login": cookie}) as copy:
            return post_login(copy, token, password)

    with stack.client() as http:
        token = login_form(http)
        cookie = http.cookies["smsrelay_dash_login"]
        assert replay(token, cookie, "guess").status_code == 401
        replayed = replay(token, cookie)
        assert replayed.status_code == 403 and "already used" in replayed.text
        assert "smsrelay_dash" not in replayed.cookies

        token = login_form(http)
        cookie = http.cookies["smsrelay_dash_login"]
        assert replay(token, cookie).status_code == 303
        assert replay(token, cookie).status_code == 403, "nor a form that led to a login"


def test_logout__a_copy_of_the_session_cookie_is_no_session(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=_settings(tmp_path))
    with stack.client() as http:
        assert log_in(http).status_code == 303
        cookie = http.cookies["smsrelay_dash"]
        page = http.get("/dashboard")
        assert page.status_code == 200
        csrf = csrf_token(page)
        with httpx.Client(base_url=stack.api_url, cookies={"smsrelay_dash": cookie}) as copy:
            assert copy.get("/dashboard/orgs").status_code == 200
            assert http.post("/dashboard/logout", data={"csrf_token": csrf}).status_code == 303
            assert copy.get("/dashboard/orgs").status_code == 303, "logged out, the same cookie opens nothing"
            assert copy.get("/dashboard/fragments/overview").status_code == 401
    assert stack.sql('SELECT "endReason" FROM "DashboardSession"') == [{"endReason": "logout"}]


def test_password_change__ends_sessions_and_changing_it_back_revives_none(make_stack, tmp_path):
    stack = make_stack(start_worker=False, settings_overrides=_settings(tmp_path))
    with stack.client() as http:
        assert log_in(http).status_code == 303
        cookie = {"smsrelay_dash": http.cookies["smsrelay_dash"]}
    with OtherApi(stack, dashboard_admin_password="a new password for ops") as changed, \
            httpx.Client(base_url=changed.url, cookies=cookie) as http:
        assert http.get("/dashboard/orgs").status_code == 303
    with OtherApi(stack) as changed_back, httpx.Client(base_url=changed_back.url, cookies=cookie) as http:
        assert http.get("/dashboard/orgs").status_code == 303, "the old password's sessions stay ended"
    with httpx.Client(base_url=stack.api_url, cookies=cookie) as http:
        assert http.get("/dashboard/orgs").status_code == 303


def _status_webhook_seconds(stack, http: httpx.Client) -> float:
    path = "/webhooks/twilio/status?messageId=msg_flood"
    sid = "SM" + "f" * 32
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "SmsStatus": "delivered",
              "AccountSid": stack.settings.twilio_account_sid, "ApiVersion": "2010-04-01"}
    signature = RequestValidator(stack.settings.twilio_auth_token).compute_signature(stack.api_url + path, params)
    started = time.monotonic()
    resp = http.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 200
    return time.monotonic() - started


@pytest.mark.parametrize("flooders", [8])
def test_login_flood__signed_webhooks_still_answer_promptly(make_stack, tmp_path, flooders):
    # Limits out of the way: the flood must make the API hash (64 MiB argon2) all the time.
    stack = make_stack(start_worker=False, settings_overrides=_settings(
        tmp_path, dashboard_login_attempts_per_client=100_000, dashboard_login_attempts_per_account=100_000))
    with httpx.Client(base_url=stack.api_url, timeout=30) as http:
        baseline = statistics.median(_status_webhook_seconds(stack, http) for _ in range(5))

        stop, refused, errors = threading.Event(), [], []

        def flood() -> None:
            try:
                with httpx.Client(base_url=stack.api_url, timeout=60) as attacker:
                    while not stop.is_set():
                        assert log_in(attacker, "wrong").status_code == 401
                        refused.append(1)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=flood, daemon=True) for _ in range(flooders)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 30
            while len(refused) < flooders and time.monotonic() < deadline:  # the flood is under way
                time.sleep(0.05)
            # Measured for as long as it takes the flood to be refused twice more per client, so
            # the samples overlap the hashing rather than a lull in it.
            before, during, until = len(refused), [], time.monotonic() + 60
            while (len(during) < 10 or len(refused) < before + 2 * flooders) and time.monotonic() < until:
                during.append(_status_webhook_seconds(stack, http))
                time.sleep(0.02)
            hashed_meanwhile = len(refused) - before
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert not errors, errors
    assert hashed_meanwhile >= 2 * flooders, "the flood went on while the webhooks were measured"
    # Generous: a loaded machine slows everything, but the webhooks never queue behind hashing.
    assert max(during) < 1.0 + 5 * baseline, (baseline, during)
