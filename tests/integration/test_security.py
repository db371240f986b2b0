"""Issue 8's security guarantees: signatures, keys, tenant isolation, admin denial, limits,
masking and retention — each one an attack or misuse that must fail."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

import httpx
from fastapi.routing import APIRoute
from twilio.request_validator import RequestValidator

from smsrelay.logs import MaskPhoneNumbers, mask_numbers
from smsrelay.service.operations import retention
from smsrelay.simulator.ledger import SimulatorClient
from smsrelay.web.deps import current_org

TO = "+14155552671"


def _sign(stack, url, params):
    return RequestValidator(stack.settings.twilio_auth_token).compute_signature(url, params)


def _status_params(stack, sid="SM" + "d" * 32, status="delivered"):
    return {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "AccountSid": stack.settings.twilio_account_sid, "ApiVersion": "2010-04-01"}


def test_webhook_signature__replayed_to_another_url_is_403(stack):
    org = stack.create_org()
    stack.stop_workers()
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "hi"}).json()
    params = _status_params(stack)
    signed_for = f"{stack.api_url}/webhooks/twilio/status?messageId={msg['id']}"
    signature = _sign(stack, signed_for, params)
    with httpx.Client() as http:
        for replay in (f"{stack.api_url}/webhooks/twilio/inbound",
                       f"{stack.api_url}/webhooks/twilio/status?messageId=msg_other",
                       f"{stack.api_url}/webhooks/twilio/status"):
            assert http.post(replay, data=params, headers={"X-Twilio-Signature": signature}).status_code == 403
        assert http.post(signed_for, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200
    assert stack.message(msg["id"])["status"] == "delivered"


def test_webhook_signature__unsigned_requests_never_take_a_database_connection(stack):
    # A flood of forged webhooks must not occupy the API's pool: the signature is checked first.
    pool = stack.api.server.config.app.state.runtime.pool
    params = _status_params(stack)
    taken_before = pool.get_stats().get("requests_num", 0)
    with httpx.Client() as http:
        for path in ("/webhooks/twilio/status?messageId=msg_x", "/webhooks/twilio/inbound"):
            for _ in range(5):
                r = http.post(stack.api_url + path, data=params, headers={"X-Twilio-Signature": "AAAA"})
                assert r.status_code == 403
        signed = "/webhooks/twilio/status?messageId=msg_x"
        ok = http.post(stack.api_url + signed, data=params,
                       headers={"X-Twilio-Signature": _sign(stack, stack.api_url + signed, params)})
    assert ok.status_code == 200
    # Only the signed one asked the pool for a connection.
    assert pool.get_stats().get("requests_num", 0) - taken_before == 1


def test_webhook_signature__behind_a_proxy_uses_public_base_url(make_stack):
    public = "https://sms.example.com"
    # A public URL needs a real token: the default one is refused there (anyone can read it).
    stack = make_stack(settings_overrides={"public_base_url": public, "twilio_auth_token": "proxy-test-token"},
                       start_worker=False)
    params = _status_params(stack)
    path = "/webhooks/twilio/status?messageId=msg_x"
    proxy_headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.com"}
    with httpx.Client() as http:
        ok = http.post(stack.api_url + path, data=params,
                       headers={"X-Twilio-Signature": _sign(stack, public + path, params), **proxy_headers})
        internal = http.post(stack.api_url + path, data=params,
                             headers={"X-Twilio-Signature": _sign(stack, stack.api_url + path, params), **proxy_headers})
        # A client cannot pick the URL we check against by sending forwarded headers.
        forged = http.post(stack.api_url + path, data=params,
                           headers={"X-Twilio-Signature": _sign(stack, "https://evil.example" + path, params),
                                    "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert ok.status_code == 200
    assert internal.status_code == 403 and forged.status_code == 403


def test_api_keys__stored_hashed_never_logged_and_revocable(stack, caplog):
    caplog.set_level(logging.DEBUG)
    org = stack.create_org()
    key = org["apiKey"]
    stored = stack.sql('SELECT * FROM "ApiKey" WHERE "orgId" = %s', (org["id"],))
    assert len(stored) == 1
    assert key not in str(stored[0]) and stored[0]["keyHash"] != key and len(stored[0]["keyHash"]) == 64
    with stack.client(key) as api:
        assert api.post("/v1/messages", json={"to": TO, "body": "hi"}).status_code == 202
        assert api.get("/v1/messages/msg_nope").status_code == 404
    assert all(key not in r.getMessage() for r in caplog.records)

    async def revoke(rt):
        from smsrelay.service.tenancy import orgs
        async with rt.pool.connection() as conn:
            await orgs.revoke_key(conn, org["id"], stored[0]["id"])

    stack.run(revoke)
    with stack.client(key) as api:
        r = api.get("/v1/messages")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


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


def test_tenant_isolation__every_org_route_with_another_orgs_ids_is_404(stack):
    app = stack.api.server.config.app
    routes = _org_routes(app)
    paths = {(m, r.path) for r in routes for m in r.methods}
    assert {("POST", "/v1/messages"), ("GET", "/v1/messages"), ("GET", "/v1/messages/{message_id}")} <= paths
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    with stack.client(a["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "secret of A"}).json()
    ids = {"message_id": msg["id"], "org_id": a["id"], "id": msg["id"]}
    walked = 0
    with stack.client(b["apiKey"]) as api:
        for route in routes:
            params = re.findall(r"{(\w+)}", route.path)
            for method in route.methods:
                url = route.path.format(**{p: ids.get(p, msg["id"]) for p in params})
                r = api.request(method, url, json={"to": TO, "body": "x"} if method != "GET" else None)
                walked += 1
                if params:
                    assert r.status_code == 404, (method, route.path, r.status_code, r.text)
                assert "secret of A" not in r.text and msg["id"] not in r.text, (method, route.path)
    assert walked >= 3


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


def test_request_body_limit__413_json_and_nothing_stored(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/messages", content=b'{"to": "+14155552671", "body": "' + b"a" * 100_000 + b'"}',
                     headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_per_key_rate_limit__429_with_retry_after(make_stack):
    stack = make_stack(settings_overrides={"api_rate_limit_per_minute": 3}, start_worker=False)
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    with stack.client(org["apiKey"]) as api:
        codes = [api.get("/v1/messages").status_code for _ in range(4)]
        limited = api.post("/v1/messages", json={"to": TO, "body": "hi"})
    assert codes == [200, 200, 200, 429]
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0
    with stack.client(other["apiKey"]) as api:
        assert api.get("/v1/messages").status_code == 200, "limits are per key"


def test_logs__phone_numbers_are_masked():
    record = logging.LogRecord("twilio", logging.INFO, __file__, 1, "POST To=%s From=%s", ("+14155552671", "+15017122661"), None)
    MaskPhoneNumbers().filter(record)
    assert "+14155552671" not in record.getMessage() and "+15017122661" not in record.getMessage()
    assert mask_numbers("call +447700900123 now") == "call +44******23 now"


def test_our_logs__never_carry_a_full_number(stack, caplog):
    caplog.set_level(logging.DEBUG, logger="smsrelay")
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": "hi"}).json()
    stack.wait_status(msg["id"], "delivered")
    with SimulatorClient(stack.sim.url) as sim:
        sim.send_inbound("+14155550123", "+15550000000", "to nobody")
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("smsrelay")]
    assert ours, "the send and the stray inbound are logged"
    assert not any(re.search(r"\+\d{9,}", m) for m in ours), ours


def test_content_retention__purges_bodies_keeps_rows_for_the_runbook(stack):
    org = stack.create_org()
    with stack.client(org["apiKey"]) as api:
        old = api.post("/v1/messages", json={"to": TO, "body": "old secret"}).json()
        new = api.post("/v1/messages", json={"to": TO, "body": "fresh"}).json()
    stack.wait_status(old["id"], "delivered")
    stack.sql('UPDATE "MessageLog" SET "createdAt" = now() - interval \'31 days\' WHERE "id" = %s', (old["id"],))

    def purge() -> int:
        return stack.run(lambda rt: retention.purge_content(rt, now=datetime.now(timezone.utc)))

    assert purge() == 1
    purged, kept = stack.message(old["id"]), stack.message(new["id"])
    assert purged["content"] is None and purged["metadata"]["contentPurgedAt"]
    assert purged["status"] == "delivered" and purged["twilioSid"] and purged["to"] == TO
    assert kept["content"] == "fresh"
    assert purge() == 0, "a second run finds nothing more"


def test_daily_send_cap__429_once_reached_until_midnight_and_per_org(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    other = stack.create_org("Other", numbers=("+15017122662",))
    from typer.testing import CliRunner

    from smsrelay.cli import app

    result = CliRunner().invoke(app, ["org", "policy", org["id"], "--daily-cap", "2", "--json"],
                                env={"DATABASE_URL": stack.database_url})
    assert result.exit_code == 0, result.output
    with stack.client(org["apiKey"]) as api:
        codes = [api.post("/v1/messages", json={"to": TO, "body": f"n{i}"}).status_code for i in range(2)]
        capped = api.post("/v1/messages", json={"to": TO, "body": "one too many"})
    assert codes == [202, 202]
    assert capped.status_code == 429 and capped.json()["error"]["code"] == "daily_cap_reached"
    assert 0 < int(capped.headers["Retry-After"]) <= 86400
    with stack.client(other["apiKey"]) as api:
        assert api.post("/v1/messages", json={"to": TO, "body": "fine"}).status_code == 202
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "orgId" = %s', (org["id"],))[0]["n"] == 2
    audit = stack.sql('SELECT "after" FROM "AuditLog" WHERE "orgId" = %s AND "action" = %s', (org["id"], "update"))
    assert audit[-1]["after"]["dailySendCap"] == 2
