import pytest

from smsrelay.domain.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_BODY_CHARACTERS,
    SegmentInfo,
    analyse,
    non_gsm_characters,
    too_long,
)

EMOJI = "\U0001F600"  # one code point, two UTF-16 code units


def test_gsm7_tables__have_127_basic_and_10_extension_characters():
    assert len(GSM7_BASIC) == 127  # 128 positions minus ESC
    assert GSM7_EXTENSION == frozenset("\f^{}\\[~]|€")
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_analyse__plain_ascii_is_gsm7_one_segment():
    assert analyse("Hello, your code is 123456") == SegmentInfo("GSM-7", 1, 26)


def test_analyse__160_gsm_chars_is_one_segment():
    assert analyse("a" * 160).segments == 1


def test_analyse__161_gsm_chars_is_two_segments():
    assert analyse("a" * 161) == SegmentInfo("GSM-7", 2, 161)


@pytest.mark.parametrize("n,segments", [(306, 2), (307, 3), (459, 3), (460, 4), (153 * 10, 10), (153 * 10 + 1, 11)])
def test_analyse__gsm_multipart_uses_153_septets_per_segment(n, segments):
    assert analyse("a" * n).segments == segments


@pytest.mark.parametrize("char", sorted(GSM7_EXTENSION))
def test_analyse__extension_character_costs_two_septets(char):
    assert analyse(char * 80) == SegmentInfo("GSM-7", 1, 80)
    assert analyse(char * 80 + "a").segments == 2
    assert analyse("a" * 159 + char).segments == 2


def test_analyse__escape_pair_is_not_split_across_segment_boundary():
    # 152 septets then "€" (2 septets) would straddle 153, so it moves to part 2.
    body = "a" * 152 + "€" + "a" * 152
    assert analyse(body).segments == 3
    # Without the push the same septet count (306) fits two segments.
    assert analyse("a" * 151 + "€" + "a" * 153).segments == 2


def test_analyse__gsm_accented_letters_stay_gsm7():
    assert analyse("Café à Zürich, Ñoño, ÆØÅ, Δ Ω £ ¥ § ¿ ¡").encoding == "GSM-7"


def test_analyse__lowercase_c_cedilla_forces_ucs2_as_twilio_maps_capital_only():
    assert analyse("Ç").encoding == "GSM-7"
    assert analyse("ç").encoding == "UCS-2"


def test_analyse__backtick_is_not_gsm7():
    assert analyse("`").encoding == "UCS-2"


def test_analyse__single_emoji_forces_ucs2():
    info = analyse("Hi " + EMOJI)
    assert info.encoding == "UCS-2"
    assert info.characters == 4


def test_analyse__70_ucs2_units_is_one_segment_and_71_is_two():
    assert analyse("é" + "ж" * 69).segments == 1
    assert analyse("ж" * 70).segments == 1
    assert analyse("ж" * 71).segments == 2


@pytest.mark.parametrize("n,segments", [(134, 2), (135, 3), (201, 3), (202, 4)])
def test_analyse__ucs2_multipart_uses_67_units_per_segment(n, segments):
    assert analyse("ж" * n).segments == segments


def test_analyse__35_emoji_fill_one_segment_and_36_need_two():
    assert analyse(EMOJI * 35) == SegmentInfo("UCS-2", 1, 35)
    assert analyse(EMOJI * 36).segments == 2


def test_analyse__surrogate_pair_is_not_split_across_segment_boundary():
    # 66 units + emoji (2 units) would straddle 67, so the emoji opens part 2.
    assert analyse("ж" * 66 + EMOJI + "ж" * 66).segments == 3
    assert analyse("ж" * 65 + EMOJI + "ж" * 67).segments == 2


def test_analyse__mixed_scripts_use_ucs2():
    info = analyse("Hello Привет 你好 مرحبا")
    assert info.encoding == "UCS-2"
    assert info.segments == 1


def test_analyse__empty_body_reports_one_segment():
    assert analyse("") == SegmentInfo("GSM-7", 1, 0)


def test_analyse__1600_gsm_chars_is_eleven_segments():
    assert analyse("a" * 1600).segments == 11


def test_too_long__1600_is_allowed_and_1601_is_not():
    assert MAX_BODY_CHARACTERS == 1600
    assert not too_long("a" * 1600)
    assert too_long("a" * 1601)


def test_too_long__counts_code_points_not_utf16_units():
    assert not too_long(EMOJI * 1600)


def test_non_gsm_characters__lists_distinct_offenders_in_order():
    assert non_gsm_characters("It’s “fine” ’") == ["’", "“", "”"]
    assert non_gsm_characters("plain [text] {ok}") == []


def test_analyse__acute_u_is_not_gsm7():
    assert analyse("Ñandú").encoding == "UCS-2"
