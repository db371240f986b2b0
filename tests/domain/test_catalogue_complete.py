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


# The simulator's "uncatalogued" scenario stands for a code Twilio documents after our catalogue
# was written: it exists to prove the diagnosis notices codes it does not know.
DELIBERATELY_UNKNOWN = {scenarios.CATALOGUE["uncatalogued"].code}


def test_every_code_the_simulator_can_produce__is_catalogued():
    assert all(lookup(c) is None for c in DELIBERATELY_UNKNOWN)
    missing = sorted(c for c in simulator_codes() - DELIBERATELY_UNKNOWN if lookup(c) is None)
    assert not missing, f"simulator codes not in the catalogue: {missing}"


# The issue's list: the 21xxx request errors, 30xxx delivery errors, 63xxx channel errors,
# 11xxx/12xxx media and HTTP retrieval errors, and the 5xx an outage answers with.
REQUIRED = {
    "request": (21211, 21212, 21408, 21602, 21603, 21604, 21606, 21608, 21610, 21611, 21612, 21614, 21617, 21619,
                21620, 21621, 21623, 21624, 21635, 21654, 21655, 21656, 21657, 21658, 21910),
    "delivery": (30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30009, 30010, 30011, 30012, 30019, 30022,
                 30023, 30024, 30027, 30032, 30033, 30034, 30036, 30038, 30410, 30450, 30500),
    "channel": (63001, 63003, 63005, 63007, 63013, 63014, 63016, 63017, 63018, 63019, 63021, 63024, 63027, 63028,
                63032, 63034, 63038, 63049),
    "media": (11100, 11200, 11205, 11206, 11210, 11217, 11220, 11750, 11751, 12100, 12300, 14107),
    "api": (10001, 20003, 20005, 20403, 20404, 20429),
    "outage": (20500, 20503, 20504, 21730, 30008, 30410, 30500),
}


@pytest.mark.parametrize("family", sorted(REQUIRED))
def test_every_family_the_issue_names__is_present(family):
    missing = [c for c in REQUIRED[family] if lookup(c) is None]
    assert not missing, f"{family} codes dropped from the catalogue: {missing}"


@pytest.mark.parametrize("prefix,at_least", [("11", 9), ("12", 3), ("20", 10), ("21", 38), ("30", 35), ("63", 25)])
def test_every_family_of_the_messaging_dictionary__is_present(prefix, at_least):
    assert sum(1 for c in CATALOGUE if str(c).startswith(prefix)) >= at_least


def test_every_entry__says_where_it_came_from_and_what_we_do():
    for code, e in CATALOGUE.items():
        assert e.cause in CAUSES and e.meaning and e.action and e.message, code
        assert e.retry_rule, code
        assert e.source and str(code) in e.source, code
        if e.source_read:
            # A page read is Twilio's own error page for this very code (or a localised copy of it, its
            # .md view, or the copy on Twilio's static docs hosts static0/static1.twilio.com).
            assert re.fullmatch(rf"https://(www\.|static\d\.)?twilio\.com(/[a-z-]+)?/docs/(api/)?errors/{code}(\.md)?",
                                e.source), e.source
        else:
            assert e.source.startswith(f"not found: no page for {code}"), e.source


def test_most_entries__were_checked_against_twilios_page():
    read = [c for c, e in CATALOGUE.items() if e.source_read]
    assert len(read) >= 100 and len(read) / len(CATALOGUE) > 0.75


def test_an_entry_without_a_source__cannot_be_added():
    from smsrelay.domain.catalogue_codes import account_api, channel, delivery, media, request

    for family in (account_api, request, delivery, channel, media):
        assert {row[0] for row in family.ROWS} == set(family.SOURCES), family.__name__


def test_texts_corrected_against_twilio__say_what_twilio_says():
    # Pages read for this catalogue contradicted the texts that were here before.
    assert "inbound" in CATALOGUE[30009].message.lower()
    assert "5 MB" in CATALOGUE[63034].action and "16 MB" not in CATALOGUE[63034].action
    assert "ValidityPeriod" not in CATALOGUE[21623].action
    assert "ContentVariables" in CATALOGUE[21654].meaning
    assert "Content SID" in CATALOGUE[21619].message


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
