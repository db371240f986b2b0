"""The accept-time rules (domain/admission.py): pure, so every case is a table row."""

from __future__ import annotations

import pytest

from smsrelay.domain import admission, lint, phone

US_MOBILE_OR_FIXED = phone.check("+14155552671")
UK_LANDLINE = phone.check("+442079460958")
UK_MOBILE = phone.check("+447400123456")
CLEAN = lint.lint("Your table is ready. Reply STOP to opt out.")
SHORTENER = lint.lint("Track it: bit.ly/abc. Reply STOP to opt out.")
EMPTY = lint.lint("")


def screen(check=US_MOBILE_OR_FIXED, content=CLEAN, *, countries=None, landline="warn", policy="warn"):
    return admission.screen(check, content, allowed_countries=countries, landline_policy=landline,
                            content_policy=policy)


def test_numbering_plan__uk_landline_is_fixed_line_and_us_numbers_are_not_assumed_to_be():
    assert phone.is_landline(UK_LANDLINE)
    assert not phone.is_landline(UK_MOBILE)
    assert not phone.is_landline(US_MOBILE_OR_FIXED)  # NANP says "fixed line or mobile": not refused


def test_screen__clean_message_passes_with_no_findings():
    assert screen() == admission.Screening(None, ())


@pytest.mark.parametrize("countries,check,refused", [
    (None, UK_MOBILE, False), (["US"], UK_MOBILE, True), (["US", "GB"], UK_MOBILE, False), (["GB"], US_MOBILE_OR_FIXED, True),
])
def test_screen__allowed_countries(countries, check, refused):
    verdict = screen(check, countries=countries)
    assert (verdict.refusal is not None) == refused
    if refused:
        assert verdict.refusal.code == "country_not_allowed"
        assert verdict.refusal.details["twilioEquivalent"] == 21408
        assert verdict.refusal.details["country"] == check.country


def test_screen__country_message_masks_the_number():
    message = screen(UK_MOBILE, countries=["US"]).refusal.message
    assert "+447400123456" not in message and "+44******56" in message


@pytest.mark.parametrize("policy,refused", [("warn", False), ("block", True)])
def test_screen__landline_warned_or_refused(policy, refused):
    verdict = screen(UK_LANDLINE, landline=policy)
    if refused:
        assert verdict.refusal.code == "landline_destination" and verdict.refusal.details["twilioEquivalent"] == 30006
    else:
        assert verdict.refusal is None and [f.code for f in verdict.findings] == ["landline"]


@pytest.mark.parametrize("policy,refused", [("warn", False), ("block", True)])
def test_screen__content_warnings_follow_the_policy(policy, refused):
    verdict = screen(content=SHORTENER, policy=policy)
    assert (verdict.refusal is not None) == refused
    if refused:
        assert verdict.refusal.code == "content_blocked"
        assert [f["code"] for f in verdict.refusal.details["findings"]] == ["url_shortener"]
        assert "bit.ly" in verdict.refusal.message
    else:
        assert [f.code for f in verdict.findings] == ["url_shortener"]


def test_screen__errors_refuse_even_under_warn():
    verdict = screen(content=EMPTY, policy="warn")
    assert verdict.refusal.code == "content_blocked"


def test_screen__info_findings_never_refuse():
    verdict = screen(content=lint.lint("Café ç. Reply STOP to opt out."), policy="block")
    assert verdict.refusal is None and [f.code for f in verdict.findings] == ["unicode_upgrade"]


def test_screen__country_is_checked_before_landline_and_content():
    assert screen(UK_LANDLINE, EMPTY, countries=["US"], landline="block").refusal.code == "country_not_allowed"


@pytest.mark.parametrize("raw,clean", [(["us", " ca "], ["US", "CA"]), ([], None), (None, None), (["GB", "gb"], ["GB"])])
def test_countries__normalised(raw, clean):
    assert admission.countries(raw) == clean


@pytest.mark.parametrize("raw", [["XX"], ["USA"], ["U"]])
def test_countries__unknown_regions_refused(raw):
    with pytest.raises(ValueError):
        admission.countries(raw)


def test_policy__only_warn_or_block():
    assert admission.policy(" Block ", "contentPolicy") == "block"
    with pytest.raises(ValueError, match="contentPolicy must be one of warn, block|block, warn"):
        admission.policy("strict", "contentPolicy")
