import pytest

from smsrelay.domain.phone import PhoneCheck, check, is_landline, mask, sender_kind


@pytest.mark.parametrize(
    "raw", ["(202) 555-0123", "202-555-0123", "202.555.0123", "+1 202 555 0123", "12025550123", " 2025550123 "]
)
def test_check__us_formats_normalise_to_e164(raw):
    result = check(raw)
    assert result.valid
    assert result.e164 == "+12025550123"
    assert result.country == "US"
    assert result.reason is None


def test_check__us_number_is_fixed_line_or_mobile():
    assert check("+12025550123").number_type == "fixed_line_or_mobile"


def test_check__default_region_reads_national_numbers():
    result = check("020 7946 0000", default_region="GB")
    assert result == PhoneCheck("+442079460000", True, "GB", "fixed_line", None)


def test_check__international_number_ignores_default_region():
    assert check("+44 7400 123456", default_region="US").e164 == "+447400123456"
    assert check("+44 7400 123456").number_type == "mobile"


def test_check__toll_free_type():
    assert check("+1 800 555 0100").number_type == "toll_free"


@pytest.mark.parametrize(
    "raw,reason",
    [("", "empty"), ("   ", "empty"), ("call me", "not_a_number"), ("202-555-0123 x12", "not_a_number"),
     ("+999 123 456", "invalid_country_code"), ("+1 800 555 010", "too_short")],
)
def test_check__invalid_inputs_give_a_reason(raw, reason):
    result = check(raw)
    assert not result.valid
    assert result.e164 is None
    assert result.reason == reason


def test_check__unassigned_us_area_code_is_invalid():
    result = check("+1 555 123 4567")
    assert not result.valid and result.reason


def test_is_landline__only_for_definite_fixed_line():
    assert is_landline(check("+44 20 7946 0000"))
    assert not is_landline(check("+44 7400 123456"))
    assert not is_landline(check("+1 202 555 0123"))  # NANP: cannot tell
    assert not is_landline(check("garbage"))


def test_mask__keeps_country_code_and_last_two_digits():
    assert mask("+15551234567") == "+1******67"
    assert mask("+442079460000") == "+44******00"


def test_mask__never_reveals_middle_digits():
    masked = mask("+12025550123")
    assert "555" not in masked and "202" not in masked


def test_mask__non_e164_input_keeps_only_last_two():
    assert mask("12345") == "******45"
    assert mask("") == "******"


@pytest.mark.parametrize("number", ["12345", "123456"])
def test_sender_kind__five_or_six_digits_is_short_code(number):
    assert sender_kind(number) == "short_code"


@pytest.mark.parametrize("npa", ["800", "833", "844", "855", "866", "877", "888"])
def test_sender_kind__nanp_toll_free_prefixes(npa):
    assert sender_kind(f"+1{npa}5550100") == "toll_free"


@pytest.mark.parametrize("number", ["+12025550123", "+18995550100", "+448001234567", "1234567", "+123456"])
def test_sender_kind__everything_else_is_long_code(number):
    assert sender_kind(number) == "long_code"
