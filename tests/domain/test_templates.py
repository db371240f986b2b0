"""domain/templates.py: placeholders and their types, the worst-case segment range, rendering
with the variables named when they do not fit, and word diffs between versions."""

from __future__ import annotations

import pytest

from smsrelay.domain import templates as t
from smsrelay.domain.segments import analyse

TABLE_READY = "Hi {{name}}, your table for {{party_size:int}} is ready"


def test_placeholders__in_order_with_str_as_the_default_type():
    assert t.placeholders(TABLE_READY + " {{ name }}") == (t.Placeholder("name", "str"), t.Placeholder("party_size", "int"))


@pytest.mark.parametrize("body", ["{{a:date}}", "{{a}} {{a:int}}", "Hi {{ name", "oops }}", "{{1abc}}"])
def test_placeholders__refuse_a_malformed_body(body):
    with pytest.raises(t.TemplateError):
        t.placeholders(body)


def test_check__segment_range_spans_the_shortest_and_the_ucs2_worst_value():
    result = t.check(TABLE_READY)
    assert (result.segments_min, result.encoding, result.encoding_max) == (1, "GSM-7", "UCS-2")
    worst = analyse(TABLE_READY.replace("{{name}}", "\U0001F600" * t.MAX_STR_VALUE)
                    .replace("{{party_size:int}}", "-" + "9" * 12))
    assert result.segments_max == worst.segments > 1
    assert "placeholder_unicode" in [f.code for f in result.findings]
    assert "opt_out_language" in [f.code for f in result.findings], "a template is checked as a first contact"


def test_check__digits_only_placeholders_never_force_ucs2():
    result = t.check("Your code is {{code:int}}. Reply STOP to opt out.")
    assert (result.encoding_max, result.segments_max) == ("GSM-7", 1)
    assert [f.code for f in result.findings] == []


def test_check__lints_the_literal_text():
    codes = {f.code for f in t.check("Act now at bit.ly/x {{name}}").findings}
    assert {"url_shortener", "spam_phrase"} <= codes


def test_render__fills_values_and_names_the_variable_that_does_not_fit():
    assert t.render(TABLE_READY, {"name": "Ann", "party_size": 4}) == "Hi Ann, your table for 4 is ready"
    assert t.render("{{x:number}}", {"x": 2.5}) == "2.5"
    for variables, kind, name in [({"name": "Ann"}, "missing", "party_size"),
                                  ({"name": "A", "party_size": 1, "z": 1}, "unexpected", "z"),
                                  ({"name": "A", "party_size": 1.5}, "invalid", "party_size"),
                                  ({"name": "A", "party_size": False}, "invalid", "party_size"),
                                  ({"name": "x" * 41, "party_size": 1}, "invalid", "name")]:
        with pytest.raises(t.VariableError) as caught:
            t.render(TABLE_READY, variables)
        assert (caught.value.kind, caught.value.variable) == (kind, name)


def test_changes__word_runs_removed_and_added():
    assert t.changes("2-for-1 desserts tonight", "our new menu tonight") == ["- 2-for-1 desserts", "+ our new menu"]
    assert t.changes("same", "same") == []
