"""SMS encoding and segment count, computed the way Twilio bills them.

A body that fits the GSM 03.38 alphabet goes as GSM-7, otherwise the whole
body goes as UCS-2 (one emoji turns 160 characters into three segments, which
is why lint reports the characters responsible).

Single-segment capacity is 160 septets (GSM-7) or 70 UTF-16 code units
(UCS-2). A longer message is concatenated: each part carries a 6-byte User
Data Header, leaving 153 septets or 67 code units. A character never straddles
two parts: a GSM-7 extension character (ESC + char, 2 septets) or a UCS-2
surrogate pair (2 code units) that does not fit moves whole to the next part,
so a part can hold 152 septets or 66 code units.

Twilio's own calculator (TwilioDevEd/message-segment-calculator) keeps whole
grapheme clusters together; with only the standard library we keep code points
together, which matches it for everything except multi-code-point emoji
sequences (ZWJ families, flags, skin tones) that happen to sit on a boundary.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 basic table, as Twilio maps it (0x09 is capital C-cedilla; ESC excluded).
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs ESC + char, i.e. 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
MAX_BODY_CHARACTERS = 1600


@dataclass(frozen=True)
class SegmentInfo:
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int
    characters: int  # Python code points, as a person would count them


def is_gsm7(char: str) -> bool:
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def non_gsm_characters(body: str) -> list[str]:
    """Distinct characters that force UCS-2, in order of first appearance."""
    return list(dict.fromkeys(c for c in body if not is_gsm7(c)))


def _units(body: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM7_EXTENSION else 1 for c in body]
    return [2 if ord(c) > 0xFFFF else 1 for c in body]


def _count_segments(units: list[int], single: int, multi: int) -> int:
    if sum(units) <= single:
        return 1
    segments, used = 1, 0
    for size in units:
        if used + size > multi:
            segments += 1
            used = 0
        used += size
    return segments


def analyse(body: str) -> SegmentInfo:
    """Encoding and segment count for ``body``.

    An empty body reports one segment: Twilio refuses empty bodies, so callers
    must reject them before this matters, and "0 segments" would read as free.
    """
    n = len(body)
    gsm = _GSM7_ALL.issuperset(body)
    # Most bodies have no double-width character (no GSM-7 extension, nothing beyond the BMP);
    # then every unit is 1 and the parts are simply full ones: no per-character walk needed.
    if gsm and GSM7_EXTENSION.isdisjoint(body):
        return SegmentInfo("GSM-7", 1 if n <= GSM7_SINGLE else -(-n // GSM7_MULTI), n)
    if not gsm and (not body or max(body) <= "\uffff"):
        return SegmentInfo("UCS-2", 1 if n <= UCS2_SINGLE else -(-n // UCS2_MULTI), n)
    units = _units(body, gsm)
    if gsm:
        return SegmentInfo("GSM-7", _count_segments(units, GSM7_SINGLE, GSM7_MULTI), n)
    return SegmentInfo("UCS-2", _count_segments(units, UCS2_SINGLE, UCS2_MULTI), n)


def too_long(body: str) -> bool:
    """Twilio rejects a Body over 1600 characters."""
    return len(body) > MAX_BODY_CHARACTERS
