"""Text no message, id or record can hold: PostgreSQL's text has no NUL, and a lone surrogate
(which JSON can spell as \\ud800) is not Unicode, so it cannot be encoded for Twilio or stored."""

from __future__ import annotations

import re

# A valid surrogate pair in JSON decodes to one code point; any surrogate left is alone.
_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_character(value: str) -> str | None:
    """What is wrong with `value`, in words, or None if it can be stored and sent."""
    if "\x00" in value:
        return "a NUL character"
    if _SURROGATE.search(value):
        return "a lone surrogate (U+D800 to U+DFFF), which is not valid Unicode"
    return None
