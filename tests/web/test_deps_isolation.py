"""The operator token: the dependency every admin route goes through (tenant isolation of the org
routes: tests/web/test_tenant_walk.py)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute


def _all_routes(routes) -> list[APIRoute]:
    """Every APIRoute, through included routers (FastAPI nests them lazily; the assertions
    on known routes below make this fail loudly, not pass empty, if that ever changes)."""
    found = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif getattr(r, "original_router", None) is not None:
            found.extend(_all_routes(r.original_router.routes))
        elif getattr(r, "routes", None):
            found.extend(_all_routes(r.routes))
    return found


def _admin_routes(app) -> list[tuple[str, str]]:
    return [(m, r.path) for r in _all_routes(app.routes) if r.path.startswith("/admin") for m in r.methods]


def test_admin_routes__deny_by_default(make_stack):
    stack = make_stack(start_worker=False)  # no ADMIN_API_TOKEN configured
    app = stack.api.server.config.app
    admin = _admin_routes(app)
    assert admin, "there are admin routes to walk"
    with stack.client() as http:
        for method, path in admin:
            url = re.sub(r"{\w+}", "org_x", path)
            for headers in ({}, {"Authorization": "Bearer guess"}):
                r = http.request(method, url, headers=headers, json={})
                assert r.status_code == 403, (method, path, r.status_code)
                assert r.json()["error"]["code"] in {"admin_disabled", "forbidden"}


def test_admin_routes__wrong_token_is_403_when_enabled(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"admin_api_token": "s3cret-token"})
    app = stack.api.server.config.app
    admin = _admin_routes(app)
    with stack.client() as http:
        for method, path in admin:
            r = http.request(method, re.sub(r"{\w+}", "org_x", path), json={},
                             headers={"Authorization": "Bearer s3cret-tokeN"})
            assert r.status_code == 403, (method, path)
