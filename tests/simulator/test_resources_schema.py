"""Real simulator responses validate against Twilio's OpenAPI spec (twilio_api_v2010.json).

OpenAPI 3.0 schemas are turned into JSON Schema (nullable -> null allowed, $refs inlined) and
closed with additionalProperties: false, so every property we return must exist in the spec.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.sim_numbers import LONG, TO_US

SPEC_PATH = Path("/work/shared/twilio-oai/twilio_api_v2010.json")
ERROR_SCHEMA = {  # Twilio's REST error body (the spec has no schema for it)
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}


@pytest.fixture(scope="module")
def spec():
    if not SPEC_PATH.exists():
        pytest.skip("Twilio OpenAPI spec not available")
    return json.loads(SPEC_PATH.read_text())


def to_json_schema(node, spec, close=True):
    if isinstance(node, list):
        return [to_json_schema(n, spec, close) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return to_json_schema(copy.deepcopy(spec["components"]["schemas"][name]), spec, close)
    out = {k: to_json_schema(v, spec, close) for k, v in node.items()
           if not k.startswith("x-") and k not in ("description", "nullable", "example", "examples")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if close and out.get("type") in ("object", ["object", "null"]) and "properties" in out \
            and node.get("format") != "phone-number-capabilities":
        out["additionalProperties"] = False
    return out


def schema(spec, name):
    return to_json_schema({"$ref": f"#/components/schemas/{name}"}, spec)


def response_schema(spec, path, method, status):
    op = spec["paths"][path][method]
    return to_json_schema(op["responses"][status]["content"]["application/json"]["schema"], spec)


def check(instance, sch):
    jsonschema.validate(instance, sch, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


P = "/2010-04-01/Accounts/{AccountSid}"


def test_message_resources_conform(spec, rest, sim, receiver):
    created = rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": "schema",
                                                "StatusCallback": receiver.url("/status")})
    assert created.status_code == 201
    check(created.json(), response_schema(spec, P + "/Messages.json", "post", "201"))
    sid = created.json()["sid"]
    sim.wait_for_status(sid, {"delivered"})
    fetched = rest.get(f"/Messages/{sid}.json").json()
    check(fetched, response_schema(spec, P + "/Messages/{Sid}.json", "get", "200"))
    assert fetched["status"] == "delivered" and fetched["date_sent"]
    page = rest.get("/Messages.json", params={"PageSize": 1}).json()
    check(page, response_schema(spec, P + "/Messages.json", "get", "200"))
    svc = rest.post("/Messages.json", data={"To": TO_US, "MessagingServiceSid": "MG" + "c" * 32,
                                            "Body": "svc"})
    check(svc.json(), schema(spec, "api.v2010.account.message"))


def test_account_balance_and_number_resources_conform(spec, rest, sim, receiver):
    account_url = str(rest.base_url).rstrip("/") + ".json"
    check(rest.get(account_url).json(), response_schema(spec, "/2010-04-01/Accounts/{Sid}.json", "get", "200"))
    check(rest.get("/Balance.json").json(), response_schema(spec, P + "/Balance.json", "get", "200"))
    created = rest.post("/IncomingPhoneNumbers.json", data={"PhoneNumber": LONG, "SmsUrl": receiver.url("/in")})
    assert created.status_code == 201
    check(created.json(), response_schema(spec, P + "/IncomingPhoneNumbers.json", "post", "201"))
    pn = created.json()["sid"]
    check(rest.get(f"/IncomingPhoneNumbers/{pn}.json").json(),
          response_schema(spec, P + "/IncomingPhoneNumbers/{Sid}.json", "get", "200"))
    check(rest.get("/IncomingPhoneNumbers.json").json(),
          response_schema(spec, P + "/IncomingPhoneNumbers.json", "get", "200"))


def test_closing_the_schema_catches_extra_properties(spec):
    sch = schema(spec, "api.v2010.account.balance")
    with pytest.raises(jsonschema.ValidationError):
        check({"account_sid": "AC" + "0" * 32, "balance": "1", "currency": "USD", "extra": 1}, sch)


@pytest.mark.parametrize("data", [{"From": LONG, "Body": "x"}, {"To": "+1555", "From": LONG, "Body": "x"}])
def test_errors_have_twilios_shape(rest, data):
    r = rest.post("/Messages.json", data=data)
    assert r.status_code == 400
    check(r.json(), ERROR_SCHEMA)
    assert r.json()["status"] == 400


def test_unknown_routes_answer_twilio_404(rest):
    r = rest.get("/Nope.json")
    assert r.status_code == 404 and r.json()["code"] == 20404
    check(r.json(), ERROR_SCHEMA)


def test_auth_error_has_twilios_shape(rest):
    r = rest.get("/Balance.json", auth=("AC" + "0" * 32, "nope"))
    assert r.status_code == 401 and r.json()["code"] == 20003
    check(r.json(), ERROR_SCHEMA)
