"""Content and number checks at the API: encoding and segments as Twilio counts them
(/v1/lint), the org's content policy (warn or block), E.164 normalisation, landlines and the
allowed destination countries."""

from __future__ import annotations

import pytest

from tests.support.segment_boundaries import BOUNDARIES

ADMIN = {"Authorization": "Bearer admin-t0ken", "X-Operator": "policy-test"}
UK_LANDLINE = "+442079460958"
UK_MOBILE = "+447400123456"


@pytest.fixture
def api_stack(make_stack):
    stack = make_stack(start_worker=False, settings_overrides={"admin_api_token": "admin-t0ken"})
    org = stack.create_org("Acme", numbers=("+15017122661",))
    with stack.client(org["apiKey"]) as api, stack.client() as admin:
        yield stack, org, api, admin


def _policy(admin, org, **changes):
    r = admin.patch(f"/admin/v1/orgs/{org['id']}/policy", headers=ADMIN, json=changes)
    assert r.status_code == 200, r.text
    return r.json()


def test_lint_endpoint__encoding_and_segments_as_twilio_counts_them(api_stack):
    # The boundary table itself is tested against the domain in test_encoding_boundaries.py;
    # here the same table goes through the HTTP API in one stack.
    _, _, api, _ = api_stack
    for body, encoding, segments, characters in BOUNDARIES:
        r = api.post("/v1/lint", json={"body": body})
        assert r.status_code == 200
        data = r.json()
        assert set(data) == {"encoding", "segments", "characters", "findings"}
        assert (data["encoding"], data["segments"], data["characters"]) == (encoding, segments, characters), body[-5:]


def test_lint_endpoint__1601_characters_is_an_error_finding(api_stack):
    _, _, api, _ = api_stack
    findings = api.post("/v1/lint", json={"body": "a" * 1601}).json()["findings"]
    assert [(f["code"], f["severity"]) for f in findings] == [("too_long", "error")]


def test_send__1600_characters_accepted_as_11_segments_and_1601_refused(api_stack):
    _, _, api, _ = api_stack
    ok = api.post("/v1/messages", json={"to": "+14155552671", "body": "a" * 1600})
    assert ok.status_code == 202 and ok.json()["segments"] == 11
    too_long = api.post("/v1/messages", json={"to": "+14155552671", "body": "a" * 1601})
    assert too_long.status_code == 422 and too_long.json()["error"]["code"] == "body_too_long"


def test_warn_policy__accepts_and_returns_the_findings(api_stack):
    stack, _, api, _ = api_stack
    r = api.post("/v1/messages", json={"to": "+14155552671", "body": "Act now: bit.ly/deal"})
    assert r.status_code == 202
    codes = {f["code"] for f in r.json()["findings"]}
    assert {"url_shortener", "spam_phrase", "opt_out_language"} <= codes
    stored = stack.message(r.json()["id"])["metadata"]["findings"]
    assert {f["code"] for f in stored} == codes


def test_block_policy__refuses_with_422_listing_the_findings(api_stack):
    stack, org, api, admin = api_stack
    _policy(admin, org, contentPolicy="block")
    r = api.post("/v1/messages", json={"to": "+14155552671", "body": "Your order shipped: tinyurl.com/x1. Reply STOP to opt out."})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "content_blocked" and error["policy"] == "block"
    assert [f["code"] for f in error["findings"]] == ["url_shortener"]
    assert "tinyurl.com" in error["message"]
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_block_policy__first_message_needs_opt_out_words_later_ones_do_not(api_stack):
    _, org, api, admin = api_stack
    _policy(admin, org, contentPolicy="block")
    first = api.post("/v1/messages", json={"to": "+14155552671", "body": "Welcome to Acme alerts!"})
    assert first.status_code == 422
    assert [f["code"] for f in first.json()["error"]["findings"]] == ["opt_out_language"]
    ok = api.post("/v1/messages", json={"to": "+14155552671", "body": "Welcome to Acme alerts! Reply STOP to opt out."})
    assert ok.status_code == 202 and ok.json()["findings"] == []
    later = api.post("/v1/messages", json={"to": "+14155552671", "body": "Your table is ready."})
    assert later.status_code == 202


def test_invalid_numbers__refused_422_as_twilio_would_with_21211(api_stack):
    _, _, api, _ = api_stack
    for to in ["12345", "+1 415 555 267", "call me", "+999 1234567", "+44 20 7946 095", ""]:
        r = api.post("/v1/messages", json={"to": to, "body": "Hi. Reply STOP to opt out."})
        assert r.status_code == 422, to
        assert r.json()["error"]["code"] == "invalid_to_number" and r.json()["error"]["twilioEquivalent"] == 21211


def test_national_numbers__normalised_with_the_orgs_default_region(api_stack):
    _, org, api, admin = api_stack
    assert api.post("/v1/messages", json={"to": "(415) 555-2671", "body": "Hi"}).json()["to"] == "+14155552671"
    _policy(admin, org, defaultRegion="gb")
    assert api.post("/v1/messages", json={"to": "07400 123456", "body": "Hi"}).json()["to"] == UK_MOBILE


def test_landline__warned_by_default_and_refused_under_block(api_stack):
    _, org, api, admin = api_stack
    warned = api.post("/v1/messages", json={"to": UK_LANDLINE, "body": "Hi"})
    assert warned.status_code == 202
    assert "landline" in [f["code"] for f in warned.json()["findings"]]
    assert "30006" in next(f["message"] for f in warned.json()["findings"] if f["code"] == "landline")
    _policy(admin, org, landlinePolicy="block")
    refused = api.post("/v1/messages", json={"to": UK_LANDLINE, "body": "Hi"})
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "landline_destination"
    assert refused.json()["error"]["twilioEquivalent"] == 30006
    assert api.post("/v1/messages", json={"to": UK_MOBILE, "body": "Hi"}).status_code == 202


def test_allowed_countries__other_destinations_refused_422(api_stack):
    _, org, api, admin = api_stack
    assert _policy(admin, org, allowedCountries=["us", "CA"])["allowedCountries"] == ["US", "CA"]
    refused = api.post("/v1/messages", json={"to": UK_MOBILE, "body": "Hi"})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "country_not_allowed" and error["country"] == "GB"
    assert error["allowedCountries"] == ["US", "CA"] and error["twilioEquivalent"] == 21408
    assert api.post("/v1/messages", json={"to": "+14155552671", "body": "Hi"}).status_code == 202
    assert api.post("/v1/messages", json={"to": "+16135550123", "body": "Hi"}).status_code == 202
    assert _policy(admin, org, allowedCountries=[])["allowedCountries"] is None
    assert api.post("/v1/messages", json={"to": UK_MOBILE, "body": "Hi"}).status_code == 202


def test_policy_change__bad_values_are_422_and_change_nothing(api_stack):
    stack, org, _, admin = api_stack
    for change in [{"contentPolicy": "maybe"}, {"allowedCountries": ["XX"]}, {"defaultRegion": "ZZ"},
                   {"validityPeriodSeconds": 0}, {"helpText": "x" * 641}]:
        r = admin.patch(f"/admin/v1/orgs/{org['id']}/policy", headers=ADMIN, json=change)
        assert r.status_code == 422, change
        assert set(r.json()["error"]) >= {"code", "message"}
    assert admin.patch("/admin/v1/orgs/org_missing/policy", headers=ADMIN, json={"contentPolicy": "block"}).status_code == 404
    assert stack.sql('SELECT count(*) AS n FROM "AuditLog" WHERE "action" = \'update\'')[0]["n"] == 0
