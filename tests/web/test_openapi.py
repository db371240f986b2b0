"""docs/openapi.json is the app's own OpenAPI document, kept current."""

import json
from pathlib import Path

from smsrelay.web.openapi import document


def test_docs_openapi__matches_the_app():
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert committed == document(), "regenerate: uv run python -m smsrelay.web.openapi > docs/openapi.json"
    assert "/v1/messages" in committed["paths"] and "/webhooks/twilio/status" in committed["paths"]


def test_openapi__declares_bearer_auth_typed_messages_and_every_error_code():
    from smsrelay.service.problems import DECLARED

    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    body = doc["components"]["schemas"]["ErrorBody"]
    assert sorted(body["properties"]["code"]["enum"]) == sorted(DECLARED)
    for code in DECLARED:
        assert f"`{code}`" in doc["info"]["description"], code
    message = doc["components"]["schemas"]["Message"]["properties"]
    assert {"error", "waiting", "retryOf", "retriedAs", "status"} <= set(message)
    send = doc["components"]["schemas"]["SendRequest"]["properties"]
    assert send["body"]["maxLength"] == 1600 and send["to"]["minLength"] == 1


def test_openapi__every_org_route_names_its_error_codes_with_examples():
    from smsrelay.service.problems import DECLARED

    doc = document()
    org_ops = [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()
               if {"apiKey": []} in op.get("security", [])]
    assert len(org_ops) >= 9
    for method, path, op in org_ops:
        named = set()
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            examples = response.get("content", {}).get("application/json", {}).get("examples", {})
            for code, example in examples.items():
                assert DECLARED[code].status == int(status), (method, path, code)
                assert example["value"]["error"]["code"] == code
                named.add(code)
        assert {"unauthorized", "rate_limited", "internal_error"} <= named, (method, path, named)
        if "requestBody" in op:
            assert {"invalid_json", "unsupported_media_type", "invalid_request"} <= named, (method, path)
