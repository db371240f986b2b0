"""Encoding and segment counts at every boundary Twilio's counting turns on (pure domain)."""

from __future__ import annotations

import json

import pytest

from smsrelay.domain import lint, segments
from tests.support.segment_boundaries import BOUNDARIES


@pytest.mark.parametrize("body,encoding,count,characters", BOUNDARIES,
                         ids=[f"{len(b)}:{b[-1]!r}:{e}" for b, e, *_ in BOUNDARIES])
def test_analyse__matches_twilio_at_the_boundary(body, encoding, count, characters):
    assert segments.analyse(body) == segments.SegmentInfo(encoding, count, characters)
    result = lint.lint(body)
    assert (result.encoding, result.segments, result.characters) == (encoding, count, characters)


def test_1600_is_the_limit_in_characters_not_units():
    assert not segments.too_long("a" * 1600) and segments.too_long("a" * 1601)
    assert not segments.too_long("\U0001F600" * 1600)
    assert [f.code for f in lint.lint("a" * 1601).findings] == ["too_long"]


def test_cli_lint__json_has_the_api_shape_and_errors_exit_1():
    from typer.testing import CliRunner

    from smsrelay.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["lint", "--json", "x" * 159 + "€"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {"encoding": "GSM-7", "segments": 2, "characters": 160, "findings": []}
    flagged = runner.invoke(app, ["lint", "--first-message", "Deal! bit.ly/x"])
    assert flagged.exit_code == 0 and "url_shortener" in flagged.output and "opt_out_language" in flagged.output
    too_long = runner.invoke(app, ["lint", "--json", "a" * 1601])
    assert too_long.exit_code == 1 and json.loads(too_long.output)["findings"][0]["code"] == "too_long"
    from_stdin = runner.invoke(app, ["lint", "--json", "-"], input="Hi \U0001F600")
    assert json.loads(from_stdin.output)["encoding"] == "UCS-2"
