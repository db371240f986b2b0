"""The shortcuts phone checks, segment counting and the shortener check take for ordinary bodies (no
double-width character; no shortener's name anywhere in the text) answer exactly as the full
per-character walk and the hostname scan do, whatever the text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsrelay.domain import lint, segments
from smsrelay.domain.segments import GSM7_BASIC, GSM7_EXTENSION, SegmentInfo

# Text that reaches every branch: plain GSM-7, its extension, the BMP beyond it, astral code
# points, and the letters and dots hostnames (and Unicode case folding) are made of.
ALPHABET = st.sampled_from(sorted(GSM7_BASIC) + sorted(GSM7_EXTENSION) + ["é", "ü", "ç", "\u2019", "K", "İ", "ſ", "Σ",
                                                                          "\U0001F600", "\U0001F44D", "."])
BODIES = st.one_of(st.text(ALPHABET, max_size=700), st.text(max_size=400),
                   st.text(st.sampled_from(sorted(GSM7_BASIC)), min_size=140, max_size=1700))
HOSTY = st.text(st.sampled_from(list("abcdefghijklmnopqrstuvwxyzBITLY.-/:@ ") + ["K", "İ", "ſ"]), max_size=60)


def _walk(body: str) -> SegmentInfo:
    gsm = all(segments.is_gsm7(c) for c in body)
    units = segments._units(body, gsm)
    if gsm:
        return SegmentInfo("GSM-7", segments._count_segments(units, segments.GSM7_SINGLE, segments.GSM7_MULTI), len(body))
    return SegmentInfo("UCS-2", segments._count_segments(units, segments.UCS2_SINGLE, segments.UCS2_MULTI), len(body))


def _scan(body: str) -> list[str]:
    found: dict[str, None] = {}
    for match in lint._HOST_RE.finditer(body):
        host = match.group(1).lower()
        if host.startswith("www."):
            host = host[4:]
        if any(host == s or host.endswith("." + s) for s in lint.URL_SHORTENERS):
            found[host] = None
    return list(found)


@settings(max_examples=600, deadline=None)
@given(BODIES)
def test_analyse__equals_the_per_character_walk(body):
    assert segments.analyse(body) == _walk(body)


@settings(max_examples=600, deadline=None)
@given(st.one_of(HOSTY, st.builds(lambda a, s, b: a + s + b, HOSTY, st.sampled_from(sorted(lint.URL_SHORTENERS)), HOSTY)))
def test_shortener_hosts__equals_the_full_scan(body):
    assert lint.shortener_hosts(body) == _scan(body)


@settings(max_examples=400, deadline=None)
@given(st.text(st.sampled_from("+0123456789 -()"), min_size=1, max_size=18), st.sampled_from(["US", "GB", "CA", "DE", "IN"]))
def test_phone_check__as_with_is_valid_number(raw, region):
    from unittest import mock

    import phonenumbers

    from smsrelay.domain import phone

    got = phone.check(raw, region)
    with mock.patch.object(phonenumbers, "is_valid_number_for_region", lambda parsed, _: phonenumbers.is_valid_number(parsed)):
        assert got == phone.check(raw, region)
