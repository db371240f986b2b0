"""The catalogue is complete for what we can meet, and says what our system really does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smsrelay.domain.catalogue import CATALOGUE, CAUSES, lookup
from smsrelay.simulator import scenarios

SRC = Path(__file__).resolve().parents[2] / "src" / "smsrelay"
# Every way the simulator spells a code it answers with.
_CODE_SITES = re.compile(r"(?:TwilioFault|error_response|_fail)\((?:msg, )?(\d{5})|(?:error_code|code) or (\d{5})"
                         r"|\{404: (\d{5}), 405: (\d{5})\}.get\(exc.status_code, (\d{5})\)")


def simulator_codes() -> set[int]:
    codes = {k.code for k in scenarios.CATALOGUE.values() if k.code} | {
        c for k in scenarios.CATALOGUE.values() for c in k.alt_codes}
    for path in (SRC / "simulator").glob("*.py"):
        for match in _CODE_SITES.finditer(path.read_text()):
            codes |= {int(g) for g in match.groups() if g}
    return codes


def test_the_scan_finds_the_simulator_codes():
    # Guards the regex: if it stopped matching, the test below would pass on nothing.
    assert {20001, 20003, 20004, 20404, 20429, 20500, 20503, 20504, 21602, 21611, 21624, 30001, 30002,
            30008} <= simulator_codes()


def test_every_code_the_simulator_can_produce__is_catalogued():
    missing = sorted(c for c in simulator_codes() if lookup(c) is None)
    assert not missing, f"simulator codes not in the catalogue: {missing}"


@pytest.mark.parametrize("prefix,at_least", [("11", 4), ("12", 3), ("20", 8), ("21", 25), ("30", 25), ("63", 15)])
def test_every_family_of_the_messaging_dictionary__is_present(prefix, at_least):
    assert sum(1 for c in CATALOGUE if str(c).startswith(prefix)) >= at_least


@pytest.mark.parametrize("code", [20429, 20500, 20503, 20504, 63016, 11200, 12300, 30036, 21656])
def test_named_codes__are_catalogued(code):
    assert lookup(code) is not None


def test_every_entry__says_where_it_came_from_and_what_we_do():
    for code, e in CATALOGUE.items():
        assert e.cause in CAUSES and e.meaning and e.action and e.message
        assert str(code) in e.source and ("twilio.com/docs/api/errors" in e.source or "no Twilio docs page" in e.source)
        assert e.retry_rule


def test_delivery_errors__never_claim_an_automatic_retry():
    """A status callback is final: nothing in the callback path enqueues a send."""
    for path in (SRC / "service" / "delivery").glob("*.py"):
        assert "enqueue_send" not in path.read_text(), path
    for code, e in CATALOGUE.items():
        if e.final_status is not None:
            assert "retried automatically" not in e.action.replace("Not retried automatically", ""), code
            assert e.retry_rule.startswith(("not retried automatically", "never retried")), code


def test_30008__is_retried_by_the_operator_not_automatically():
    e = CATALOGUE[30008]
    assert e.final_status == "undelivered" and e.max_retries == 3
    assert "not retried automatically" in e.retry_rule and "smsrelay retry" in e.action


def test_api_errors__retry_as_the_worker_does():
    """The worker retries an API error when twilio/errors says it is retryable, up to the
    catalogue's budget; a 5xx keeps the budget of any transient failure."""
    from smsrelay.service.outbound.unknown_outcomes import TRANSIENT_RETRIES
    from smsrelay.twilio.errors import _answered

    for code, e in CATALOGUE.items():
        if e.http_status is None:
            continue
        exc = _answered(e.http_status, code, e.message)
        assert exc.retryable == e.retryable, code
        if e.http_status >= 500:
            assert e.max_retries == TRANSIENT_RETRIES, code
        if e.retryable:
            assert e.retry_rule.startswith("retried automatically by the worker"), code
