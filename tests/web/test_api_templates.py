"""Templates through the public API: save with the check's findings and segment range, every
edit a new version, archive, tenant isolation, and sending by template (variables checked, the
rendered body stored, the template and version in "MessageLog"."metadata")."""

from __future__ import annotations

import pytest

TABLE_READY = "Hi {{name}}, your table for {{party_size:int}} is ready. Reply STOP to opt out."


@pytest.fixture
def org(stack):
    return stack.create_org("Bistro", numbers=("+15017122661",))


def test_create__answers_placeholders_segment_range_and_findings(stack, org):
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY})
        assert r.status_code == 201, r.text
        t = r.json()
        assert t["version"] == 1 and t["name"] == "table_ready"
        assert t["placeholders"] == [{"name": "name", "type": "str"}, {"name": "party_size", "type": "int"}]
        # Plain values fit one GSM-7 segment; a 40-character emoji name makes it UCS-2 and longer.
        assert t["segments"]["min"] == 1 and t["segments"]["max"] >= 2
        assert t["encoding"] == "GSM-7" and t["worstEncoding"] == "UCS-2"
        assert "placeholder_unicode" in [f["code"] for f in t["findings"]]
        again = api.post("/v1/templates", json={"name": "table_ready", "body": "x"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "template_exists"


def test_save__warns_under_warn_policy_and_refuses_under_block(stack, org):
    spammy = "Act now! Claim your prize at bit.ly/x4 {{name}}"
    with stack.client(org["apiKey"]) as api:
        warned = api.post("/v1/templates", json={"name": "promo", "body": spammy})
        assert warned.status_code == 201
        codes = {f["code"] for f in warned.json()["findings"]}
        assert {"url_shortener", "spam_phrase", "opt_out_language"} <= codes
        stack.sql('UPDATE "OrgSettings" SET "contentPolicy" = \'block\' WHERE "orgId" = %s', (org["id"],))
        blocked = api.post("/v1/templates", json={"name": "promo2", "body": spammy})
        assert blocked.status_code == 422
        error = blocked.json()["error"]
        assert error["code"] == "template_content_blocked" and error["policy"] == "block"
        assert {"url_shortener", "spam_phrase"} <= {f["code"] for f in error["findings"]}
        assert error["segments"]["min"] >= 1
        assert api.get("/v1/templates/promo2").status_code == 404


@pytest.mark.parametrize("body,needle", [
    ("Hi {{name:date}}", "unknown type"),
    ("Hi {{name}} {{name:int}}", "two types"),
    ("Hi {{ name", "outside a placeholder"),
    ("   ", "empty"),
])
def test_save__refuses_a_malformed_template(stack, org, body, needle):
    with stack.client(org["apiKey"]) as api:
        r = api.post("/v1/templates", json={"name": "bad", "body": body})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_template"
        assert needle in r.json()["error"]["message"]


def test_edit__makes_a_new_version_and_archive_hides_it(stack, org):
    with stack.client(org["apiKey"]) as api:
        api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY})
        edited = api.patch("/v1/templates/table_ready", json={"body": TABLE_READY.replace("ready", "waiting")})
        assert edited.status_code == 200 and edited.json()["version"] == 2
        assert [v["version"] for v in edited.json()["versions"]] == [2, 1]
        assert api.patch("/v1/templates/table_ready", json={"body": TABLE_READY.replace("ready", "waiting")}
                         ).json()["version"] == 2, "saving the same body again is no new version"
        assert [t["name"] for t in api.get("/v1/templates").json()["templates"]] == ["table_ready"]
        archived = api.post("/v1/templates/table_ready/archive")
        assert archived.status_code == 200 and archived.json()["archived"] is True
        assert api.get("/v1/templates").json()["templates"] == []
        assert [t["name"] for t in api.get("/v1/templates", params={"archived": True}).json()["templates"]] == [
            "table_ready"]
        refused = api.post("/v1/messages", json={"to": "+14155552671", "template": "table_ready",
                                                  "variables": {"name": "Ann", "party_size": 2}})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "template_archived"
        restored = api.patch("/v1/templates/table_ready", json={"archived": False})
        assert restored.json()["archived"] is False
    audit = stack.sql('SELECT "action" FROM "AuditLog" WHERE "tableName" = \'MessageTemplate\' ORDER BY "id"')
    assert [a["action"] for a in audit] == ["create", "edit", "archive", "unarchive"]


def test_another_orgs_key__sees_none_of_its_templates(stack, org):
    other = stack.create_org("Other", numbers=("+15017122662",))
    with stack.client(org["apiKey"]) as api, stack.client(other["apiKey"]) as theirs:
        api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY})
        for r in (theirs.get("/v1/templates/table_ready"),
                  theirs.patch("/v1/templates/table_ready", json={"body": "mine now"}),
                  theirs.post("/v1/templates/table_ready/archive"),
                  theirs.post("/v1/messages", json={"to": "+14155552671", "template": "table_ready",
                                                    "variables": {"name": "A", "party_size": 1}})):
            assert r.status_code == 404 and r.json()["error"]["code"] == "template_not_found", r.text
        assert theirs.get("/v1/templates").json()["templates"] == []
        assert api.get("/v1/templates/table_ready").json()["version"] == 1


@pytest.mark.parametrize("variables,code,variable", [
    ({"name": "Ann"}, "template_variable_missing", "party_size"),
    ({"name": "Ann", "party_size": 2, "time": "7pm"}, "template_variable_unexpected", "time"),
    ({"name": "Ann", "party_size": "four"}, "template_variable_invalid", "party_size"),
    ({"name": "Ann", "party_size": True}, "template_variable_invalid", "party_size"),
    ({"name": 7, "party_size": 2}, "template_variable_invalid", "name"),
    (None, "template_variable_missing", "name"),
])
def test_send_by_template__names_the_variable_that_does_not_fit(stack, org, variables, code, variable):
    with stack.client(org["apiKey"]) as api:
        api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY})
        r = api.post("/v1/messages", json={"to": "+14155552671", "template": "table_ready", "variables": variables})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == code and r.json()["error"]["variable"] == variable
    assert stack.sql('SELECT count(*) AS n FROM "MessageLog"')[0]["n"] == 0


def test_send_by_template__stores_the_rendered_body_and_its_template_version(stack, org):
    with stack.client(org["apiKey"]) as api:
        tid = api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY}).json()["id"]
        first = api.post("/v1/messages", json={"to": "+14155552671", "template": "table_ready",
                                               "variables": {"name": "Ann", "party_size": 4}})
        assert first.status_code == 202, first.text
        api.patch("/v1/templates/table_ready", json={"body": "{{name}}: {{party_size:int}} seats. Reply STOP to end"})
        second = api.post("/v1/messages", json={"to": "+14155552671", "template": "table_ready",
                                                "variables": {"name": "Bo", "party_size": 2}})
        both = api.post("/v1/messages", json={"to": "+14155552671", "body": "hi", "template": "table_ready"})
        assert both.status_code == 422 and both.json()["error"]["code"] == "template_with_body"
        shown = api.get(f"/v1/messages/{second.json()['id']}").json()
        assert shown["template"] == {"name": "table_ready", "version": 2}
    rows = {r["id"]: r for r in stack.sql('SELECT "id", "content", "metadata" FROM "MessageLog"')}
    one, two = rows[first.json()["id"]], rows[second.json()["id"]]
    assert one["content"] == "Hi Ann, your table for 4 is ready. Reply STOP to opt out."
    assert (one["metadata"]["templateId"], one["metadata"]["templateVersion"]) == (tid, 1)
    assert two["content"] == "Bo: 2 seats. Reply STOP to end" and two["metadata"]["templateVersion"] == 2
    grouped = stack.sql('SELECT "metadata"->>\'templateId\' AS t, count(*) AS n FROM "MessageLog" GROUP BY 1')
    assert grouped == [{"t": tid, "n": 2}]


def test_batch_by_template__refuses_only_the_message_whose_variables_do_not_fit(stack, org):
    with stack.client(org["apiKey"]) as api:
        api.post("/v1/templates", json={"name": "table_ready", "body": TABLE_READY})
        r = api.post("/v1/messages:batch", json={"messages": [
            {"to": "+14155552671", "template": "table_ready", "variables": {"name": "Ann", "party_size": 4}},
            {"to": "+14155552672", "template": "table_ready", "variables": {"name": "Bo"}},
            {"to": "+14155552673", "body": "free text"},
            {"to": "+14155552674", "template": "nope", "variables": {}},
        ]})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert r.json()["accepted"] == 2
        assert results[1]["error"]["code"] == "template_variable_missing" and results[1]["error"]["variable"] == "party_size"
        assert results[3]["error"]["code"] == "template_not_found"
    stored = stack.sql('SELECT "content", "metadata"->>\'template\' AS t FROM "MessageLog" ORDER BY "content"')
    assert stored == [{"content": "Hi Ann, your table for 4 is ready. Reply STOP to opt out.", "t": "table_ready"},
                      {"content": "free text", "t": None}]
