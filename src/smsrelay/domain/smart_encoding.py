"""Twilio's smart encoding: Unicode look-alikes replaced by their GSM-7 counterparts, so that a
message is not sent as UCS-2 for one curly quote. A Messaging Service applies it to the body
it stores, so our text and Twilio's copy are compared after the same mapping."""

from __future__ import annotations

LOOK_ALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2009": " ", "\u200b": "",
}
_TABLE = str.maketrans(LOOK_ALIKES)


def apply(text: str) -> str:
    return text.translate(_TABLE)


def same_text(ours: str, theirs: str | None) -> bool:
    """Whether Twilio's stored body is our text, allowing for smart encoding's rewrite."""
    return theirs is not None and apply(ours) == apply(theirs)
