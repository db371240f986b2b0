"""Tenant isolation, walked from the OpenAPI document: every operation that takes an org's API key
(security `apiKey`) is called with org B's key against org A's resources.

Driven by the document, not a list: a route added later is walked as soon as it is in the
document. What the walk needs from a new route is what a developer reading the document needs:
a request body schema whose required fields have `examples` (the walk sends them), and for a path
parameter, a parent collection (the path up to the parameter) whose GET lists items carrying the
parameter's name or `id`, where the walk finds A's real value. A route whose parameter cannot be
found that way is still walked, with a made-up value (and must 404), and is named in the output.

Checked for B: an operation on one of A's resources (path parameter) is a 404; a listing or a
create answers without a 5xx (2xx for the routes this walk was written with) and shows nothing of
A's; and afterwards every listing A sees is unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

TO = "+14155552671"
SECRET = "secret of A"


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(doc: dict, schema: dict, where: str) -> Any:
    """A value for `schema` from its examples (required fields, and optional ones that carry an
    example: a field such as `body` that is one of two alternatives), as a client would build it."""
    schema = _resolve(doc, schema)
    if "examples" in schema:
        return schema["examples"][0]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if _resolve(doc, s).get("type") != "null"]
        return example(doc, options[0], where)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema["properties"]
        wanted = [n for n in props if n in schema.get("required", []) or "examples" in props[n]]
        return {name: example(doc, props[name], f"{where}.{name}") for name in wanted}
    if kind == "array":
        return [example(doc, schema["items"], f"{where}[]")] * max(1, schema.get("minItems", 1))
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if "enum" in schema:
        return schema["enum"][0]
    raise AssertionError(f"{where}: give this field `examples` in its schema so clients (and this walk) "
                         "know a valid value")


def org_operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
            if {"apiKey": []} in op.get("security", [])]


def request_body(doc: dict, op: dict, where: str) -> Any:
    content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
    if content is None:
        return None
    if not op["requestBody"].get("required"):
        schema = _resolve(doc, content["schema"])
        options = [s for s in schema.get("anyOf", [schema]) if _resolve(doc, s).get("type") != "null"]
        return example(doc, options[0], where)
    return example(doc, content["schema"], where)


def _items(value: Any) -> list[dict]:
    """The first list of objects in a listing's answer."""
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, list) and v and all(isinstance(i, dict) for i in v):
                return v
    return []


def _param_value(item: dict, param: str) -> str | None:
    if param in item:
        return str(item[param])
    if param == "id" or param.endswith("_id"):
        return str(item["id"]) if "id" in item else None
    return None


def _quote(value: str) -> str:
    return value.replace("%", "%25").replace("/", "%2F").replace("?", "%3F").replace("#", "%23")


def _leaks(text: str, secrets: set[str]) -> set[str]:
    return {s for s in secrets if s in text}


@pytest.fixture
def walk_stack(make_stack):
    # No worker: A's listings must stay as they were while B walks, so a change means B caused it.
    return make_stack(start_worker=False)


def test_tenant_walk__every_org_operation_with_another_orgs_key_is_404_or_shows_nothing_of_it(walk_stack):
    stack = walk_stack
    a = stack.create_org("A", numbers=("+15017122661",))
    b = stack.create_org("B", numbers=("+15017122662",))
    with stack.client() as anon:
        doc = anon.get("/openapi.json").json()
    ops = org_operations(doc)
    keys = {(m, p) for m, p, _ in ops}
    assert {("POST", "/v1/messages"), ("GET", "/v1/messages"), ("GET", "/v1/messages/{message_id}"),
            ("GET", "/v1/opt-outs"), ("POST", "/v1/opt-outs"), ("DELETE", "/v1/opt-outs/{phone}"),
            ("GET", "/v1/api-keys"), ("POST", "/v1/api-keys"), ("DELETE", "/v1/api-keys/{key_id}")} <= keys

    # 1. A creates one of everything a collection creates (with the document's own examples) and
    # a message whose text must never reach B. A's idempotency keys are the ones B will send.
    secrets = {SECRET}
    with stack.client(a["apiKey"]) as api:
        msg = api.post("/v1/messages", json={"to": TO, "body": SECRET})
        assert msg.status_code == 202, msg.text
        for method, path, op in ops:
            if method == "POST" and "{" not in path:
                r = api.request(method, path, json=request_body(doc, op, path),
                                headers={"Idempotency-Key": f"walk {method} {path}"})
                # A create that needs more than its example (an endpoint set first, say) may refuse
                # A; it must not fail on our side.
                assert r.status_code < 500, (method, path, r.text)
                secrets |= set(re.findall(r"\b(?:msg|key)_\w+", r.text)) | set(re.findall(r"sk_[\w-]{43}", r.text))
        listings = {path: api.get(path) for method, path, _ in ops if method == "GET" and "{" not in path}
        assert all(r.status_code == 200 for r in listings.values()), {p: r.text for p, r in listings.items()}
        before = {path: r.json() for path, r in listings.items()}
        for body in before.values():
            for item in _items(body):
                secrets |= {str(item[k]) for k in ("id", "prefix") if k in item}
    secrets.discard(TO)  # B may message and opt out the same stranger; it is not A's secret

    # 2. A's real value for each path parameter, from the parameter's parent collection.
    made_up: list[str] = []

    def url_for(path: str) -> str:
        url = path
        for param in re.findall(r"{(\w+)}", path):
            parent = path[:path.index("{" + param + "}")].rstrip("/")
            value = next((v for item in _items(before.get(parent)) if (v := _param_value(item, param))), None)
            if value is None:
                made_up.append(path)
                value = "walk_unknown"
            url = url.replace("{" + param + "}", _quote(value))
        return url

    # 3. B walks A's resources first (before B has any of its own), then its own collections.
    walked = []
    with stack.client(b["apiKey"]) as api:
        for method, path, op in sorted(ops, key=lambda o: "{" not in o[1]):
            body = request_body(doc, op, path) if method != "GET" else None
            r = api.request(method, url_for(path), json=body, headers={"Idempotency-Key": f"walk {method} {path}"})
            walked.append((method, path, r.status_code))
            if "{" in path:
                assert r.status_code == 404, (method, path, r.status_code, r.text)
            else:
                assert r.status_code < 500, (method, path, r.status_code, r.text)
            assert not _leaks(r.text, secrets), (method, path, _leaks(r.text, secrets), r.text)
        # B cannot send from A's number either, alone or in a batch.
        r = api.post("/v1/messages", json={"to": TO, "body": "x", "from": "+15017122661"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_from_number"
        r = api.post("/v1/messages:batch", json={"messages": [{"to": TO, "body": "x", "from": "+15017122661"}]})
        assert r.status_code == 200 and (r.json()["accepted"], r.json()["rejected"]) == (0, 1), r.text
    print(json.dumps({"walked": walked, "madeUpIds": made_up}))
    # The routes this walk was written with must have done their work for B, not merely not failed.
    done = {(m, p) for m, p, status in walked if status < 300}
    assert {("POST", "/v1/messages"), ("GET", "/v1/messages"), ("POST", "/v1/messages:batch"), ("GET", "/v1/opt-outs"),
            ("POST", "/v1/opt-outs"), ("GET", "/v1/api-keys"), ("POST", "/v1/api-keys")} <= done, walked
    assert not {p for p in made_up if p.startswith(("/v1/messages", "/v1/opt-outs", "/v1/api-keys"))}, made_up

    # 4. Nothing A sees changed, and A's key still works.
    with stack.client(a["apiKey"]) as api:
        after = {path: api.get(path).json() for path in before}
    assert after == before
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog" WHERE "orgId" = %s AND "from" = %s',
                     (b["id"], "+15017122661"))[0]["n"] == 0
