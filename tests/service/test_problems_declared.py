"""service/problems.py declares every error once: a unique code, an error status, a template that
formats, and call sites that name declared errors only."""

import re
import string
from pathlib import Path

import pytest

from smsrelay.service import problems
from smsrelay.service.problems import DECLARED, ErrorKind, Problem

SRC = Path(problems.__file__).resolve().parents[1]


def _declared_kinds() -> list[tuple[str, ErrorKind]]:
    return [(name, value) for name, value in vars(problems).items() if isinstance(value, ErrorKind)]


def test_every_declared_error__has_a_unique_code_and_an_error_status():
    kinds = _declared_kinds()
    codes = [kind.code for _, kind in kinds]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert sorted(codes) == sorted(DECLARED), "every module constant is in the registry, and only those"
    for name, kind in kinds:
        assert 400 <= kind.status <= 599, name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", kind.code), name
        assert name == kind.code.upper(), f"{name} should be named after its code {kind.code!r}"


def test_declaring_a_code_twice__is_refused():
    with pytest.raises(ValueError, match="declared twice"):
        problems._declare("org_not_found", 404, "again")


@pytest.mark.parametrize("name, kind", _declared_kinds())
def test_every_template_and_variant__formats_from_named_facts(name, kind):
    for variant, template in ((None, kind.message), *kind.variants.items()):
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        problem = kind(variant, **{f: 1.0 if f == "seconds" else f"<{f}>" for f in fields})
        assert isinstance(problem, Problem)
        assert (problem.status, problem.code) == (kind.status, kind.code)
        assert problem.message and "{" not in problem.message, name


def test_a_problem__carries_only_its_declared_details_in_the_body():
    problem = problems.RATE_LIMITED(per_minute=60, retryAfter=7)
    assert problem.to_dict() == {"error": {"code": "rate_limited", "retryAfter": 7,
                                           "message": "This API key is limited to 60 requests a minute."}}
    assert problem.status == 429 and problem.retryable
    assert not problems.ORG_NOT_FOUND(org_id="org_x").retryable


def test_fixed_facts__go_into_every_occurrence():
    problem = problems.RECIPIENT_OPTED_OUT(masked="+1501***2661")
    assert problem.to_dict() == {"error": {
        "code": "recipient_opted_out", "field": "to", "twilioEquivalent": 21610,
        "message": "+1501***2661 replied STOP to this org; Twilio would refuse with 21610."}}


def test_variants__keep_the_code_and_change_only_the_wording():
    missing, unknown = problems.UNAUTHORIZED(), problems.UNAUTHORIZED("unknown_key")
    assert (missing.code, missing.status) == (unknown.code, unknown.status) == ("unauthorized", 401)
    assert unknown.message == "Unknown or revoked API key."
    assert problems.INVALID_SINCE("out_of_range", text="99d").message == \
        "--since '99d' must be between 1 second and 31 days."


def test_no_call_site__writes_a_status_and_code_by_hand():
    handwritten = []
    for path in SRC.rglob("*.py"):
        if path.name == "problems.py" or "simulator" in path.parts:
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bProblem\(\s*\d{3}", line):
                handwritten.append(f"{path.relative_to(SRC)}:{lineno}")
    assert handwritten == []


def test_every_refusal_the_domain_words__is_a_declared_422():
    source = (SRC / "domain" / "admission.py").read_text()
    codes = set(re.findall(r'Refusal\(\s*"([a-z_]+)"', source))
    assert codes == {"country_not_allowed", "landline_destination", "content_blocked"}
    assert all(problems.by_code(code).status == 422 for code in codes)
