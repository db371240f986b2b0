"""Tenant isolation and the operator token: the dependencies every org and admin route goes through."""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute

from smsrelay.web.deps import current_org

TO = "+14155552671"


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


def _org_routes(app) -> list[APIRoute]:
    def scoped(dependant) -> bool:
        return dependant.call is current_org or any(scoped(d) for d in dependant.dependencies)

    return [r for r in _all_routes(app.routes) if scoped(r.dependant)]


def _admin_routes(app) -> list[tuple[str, str]]:
    return [(m, r.path) for r in _all_routes(app.routes) if r.path.startswith("/admin") for m in r.methods]


# A valid body for every org route that takes one: a walk that sends bodies a route refuses
# (422) stops at validation and proves nothing about the route's handler. A new route without
# an entry here fails the walk rather than going unwalked.
WALK_BODIES = {
    ("POST", "/v1/messages"): {"to": TO, "body": "walk"},
    ("POST", "/v1/messages:batch"): {"messages": [{"to": TO, "body": "walk"}]},
    ("POST", "/v1/lint"): {"body": "walk"},
}


def test_tenant_isolation__every_org_route_with_another_orgs_ids_is_404(stack):
    app = stack.api.server.config.app
    routes = _org_routes(app)
    paths = {(m, r.path) for r in routes for m in r.methods}
    assert {("POST", "/v1/messages"), ("GET", "/v1/messages"), ("GET", "/v1/messages/{message_id}")} <= paths
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    # A used the idempotency keys B will send, with the very bodies B will send: a key looked up
    # without its org would hand B A's stored answer (A's message ids).
    with stack.client(a["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "secret of A"}).json()
        a_ids = {msg["id"]}
        for (method, path), body in WALK_BODIES.items():
            r = api.request(method, path, json=body, headers={"Idempotency-Key": f"walk {path}"})
            assert r.status_code < 300, (path, r.text)
            a_ids |= set(re.findall(r"msg_\w+", r.text))
    ids = {"message_id": msg["id"], "org_id": a["id"], "id": msg["id"]}
    walked, handled = 0, 0
    with stack.client(b["apiKey"]) as api:
        for route in routes:
            params = re.findall(r"{(\w+)}", route.path)
            for method in route.methods:
                url = route.path.format(**{p: ids.get(p, msg["id"]) for p in params})
                body = None
                if method != "GET":
                    assert params or (method, route.path) in WALK_BODIES, f"no walk body for {method} {route.path}"
                    body = WALK_BODIES.get((method, route.path), {"to": TO, "body": "x"})
                r = api.request(method, url, json=body, headers={"Idempotency-Key": f"walk {route.path}"})
                walked += 1
                if params:
                    assert r.status_code == 404, (method, route.path, r.status_code, r.text)
                else:
                    assert r.status_code < 300, (method, route.path, r.status_code, r.text)
                    handled += 1
                assert "secret of A" not in r.text, (method, route.path)
                assert not a_ids & set(re.findall(r"msg_\w+", r.text)), (method, route.path, r.text)
        # And B cannot send from A's number, alone or in a batch.
        r = api.post("/v1/messages", json={"to": TO, "body": "x", "from": "+15017122661"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_from_number"
        r = api.post("/v1/messages:batch", json={"messages": [{"to": TO, "body": "x", "from": "+15017122661"}]})
        assert r.status_code == 200 and (r.json()["accepted"], r.json()["rejected"]) == (0, 1), r.text
    assert walked >= 5 and handled >= len(WALK_BODIES)
    owners = stack.sql('SELECT "orgId", count(*) AS n FROM "MessageLog" WHERE "content" = \'walk\' GROUP BY 1')
    assert {r["orgId"]: r["n"] for r in owners} == {a["id"]: 2, b["id"]: 2}, "B's sends are B's"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "from" = \'+15017122661\' AND "orgId" = %s',
                     (b["id"],))[0]["n"] == 0


def test_admin_routes__deny_by_default(make_stack):
    stack = make_stack(start_worker=False)  # no ADMIN_API_TOKEN configured
    app = stack.api.server.config.app
    admin = _admin_routes(app)
    assert admin, "there are admin routes to walk"
    with httpx.Client(base_url=stack.api_url) as http:
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
    with httpx.Client(base_url=stack.api_url) as http:
        for method, path in admin:
            r = http.request(method, re.sub(r"{\w+}", "org_x", path), json={},
                             headers={"Authorization": "Bearer s3cret-tokeN"})
            assert r.status_code == 403, (method, path)
