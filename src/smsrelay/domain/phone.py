"""Phone-number rules: E.164 normalisation, line type, masking, sender kind.

Numbering-plan metadata comes from ``phonenumbers`` (Google's libphonenumber),
which is static data, not a lookup: it says what a number *can* be, not what
carrier it is on today. That is why ``is_landline`` only trusts a definite
fixed-line answer: in NANP countries most numbers are "fixed_line_or_mobile".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}

_SEPARATORS = re.compile(r"[\s\-.()]")
_DIALLABLE = re.compile(r"^\+?[0-9]+$")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    phonenumbers.ValidationResult.TOO_SHORT: "too_short",
    phonenumbers.ValidationResult.TOO_LONG: "too_long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "invalid_length",
}

# NANP toll-free area codes (800, 833, 844, 855, 866, 877, 888).
TOLL_FREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})


@dataclass(frozen=True)
class PhoneCheck:
    e164: str | None
    valid: bool
    country: str | None  # ISO 3166-1 alpha-2, e.g. "US"
    number_type: str
    reason: str | None  # machine-readable why-not when valid is False


def _invalid(reason: str, country: str | None = None, e164: str | None = None) -> PhoneCheck:
    return PhoneCheck(e164=e164, valid=False, country=country, number_type="unknown", reason=reason)


def check(raw: str, default_region: str = "US") -> PhoneCheck:
    """Normalise ``raw`` to E.164, reading national numbers in ``default_region``."""
    if raw is None or not raw.strip():
        return _invalid("empty")
    compact = _SEPARATORS.sub("", raw)
    # Letters (vanity numbers, extensions like "x12") are refused rather than
    # guessed at: an SMS to the wrong guess reaches a stranger.
    if not _DIALLABLE.match(compact):
        return _invalid("not_a_number")
    try:
        parsed = phonenumbers.parse(compact, default_region.upper())
    except NumberParseException as exc:
        return _invalid(_PARSE_REASONS.get(exc.error_type, "not_a_number"))
    country = phonenumbers.region_code_for_number(parsed)
    # is_valid_number is exactly this, with the region looked up again (a walk over every region
    # of the calling code: +1 has 25).
    if not phonenumbers.is_valid_number_for_region(parsed, country):
        possible = phonenumbers.is_possible_number_with_reason(parsed)
        return _invalid(_POSSIBLE_REASONS.get(possible, "invalid_number"), country=country)
    return PhoneCheck(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        valid=True,
        country=country,
        number_type=_TYPE_NAMES.get(phonenumbers.number_type(parsed), "unknown"),
        reason=None,
    )


def is_landline(result: PhoneCheck) -> bool:
    """True only when the numbering plan says fixed line and nothing else."""
    return result.valid and result.number_type == "fixed_line"


def customer_field(direction: str | None) -> str:
    """Which of a message's two numbers is the customer's (the recipient of an outbound message,
    the sender of an inbound one): the one every operator view masks. The other is the org's own
    sender number, shown in full because it is what an operator checks with Twilio."""
    return "from" if direction == "inbound" else "to"


def mask(e164: str) -> str:
    """Hide a number for logs: "+15551234567" -> "+1******67".

    The stars are a fixed six so the log does not leak the number's length.
    """
    digits = re.sub(r"\D", "", e164 or "")
    tail = digits[-2:] if len(digits) >= 4 else ""
    if e164 and e164.startswith("+") and len(digits) >= 4:
        try:
            country_code = str(phonenumbers.parse("+" + digits, None).country_code)
        except NumberParseException:
            country_code = ""
        if country_code:
            return f"+{country_code}******{tail}"
    return f"******{tail}"


def sender_kind(number: str) -> str:
    """"short_code", "toll_free" or "long_code" for a Twilio From number."""
    compact = _SEPARATORS.sub("", number or "")
    if compact.isdigit() and 5 <= len(compact) <= 6:
        return "short_code"
    if compact.startswith("+1") and len(compact) == 12:
        national = compact[2:]
    elif compact.isdigit() and len(compact) == 11 and compact.startswith("1"):
        national = compact[1:]
    elif compact.isdigit() and len(compact) == 10:
        national = compact
    else:
        return "long_code"
    return "toll_free" if national.isdigit() and national[:3] in TOLL_FREE_NPAS else "long_code"
