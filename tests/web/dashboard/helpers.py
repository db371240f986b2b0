"""Logging in to the dashboard over plain HTTP (httpx), for tests that need no browser."""

from __future__ import annotations

import re

import httpx

USER, PASSWORD = "ops", "correct horse battery staple"
SECRET = "a-session-secret-shared-by-the-processes-of-this-test"


def settings(tmp_path, **extra):
    return {"dashboard_admin_user": USER, "dashboard_admin_password": PASSWORD, "session_secret": SECRET,
            "smsrelay_home": tmp_path, **extra}


def login_form(http: httpx.Client) -> str:
    resp = http.get("/dashboard/login")
    assert resp.status_code == 200
    return re.search(r'name="login_token" value="([^"]+)"', resp.text).group(1)


def post_login(http: httpx.Client, token: str, password: str = PASSWORD, user: str = USER, **headers) -> httpx.Response:
    return http.post("/dashboard/login", data={"username": user, "password": password, "login_token": token,
                                                "next": "/dashboard"}, headers=headers)


def log_in(http: httpx.Client, password: str = PASSWORD, **headers) -> httpx.Response:
    return post_login(http, login_form(http), password, **headers)


def csrf_token(page: httpx.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
