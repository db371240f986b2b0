"""Twilio's default keyword handling for inbound SMS (STOP / START / HELP).

Twilio acts on a keyword only when it is the whole message ("STOP" yes,
"STOP PLEASE" or "please cancel" no), case-insensitively. Twilio's help
article does not say how it treats punctuation; we also accept trailing
punctuation ("Stop." / "STOP!"), because treating a clear opt-out as one is
the safe error under the TCPA: at worst we stop messaging someone Twilio would
still deliver to, never the reverse.
"""

from __future__ import annotations

import string

OPT_OUT: frozenset[str] = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
OPT_IN: frozenset[str] = frozenset({"START", "YES", "UNSTOP"})
HELP: frozenset[str] = frozenset({"HELP", "INFO"})

# Twilio's default auto-replies on long codes (Advanced Opt-Out can override them).
STOP_REPLY = (
    "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe."
)
START_REPLY = (
    "You have successfully been re-subscribed to messages from this number. "
    "Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)
HELP_REPLY = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."

DEFAULT_REPLIES: dict[str, str] = {"opt_out": STOP_REPLY, "opt_in": START_REPLY, "help": HELP_REPLY}

_TRAILING = string.punctuation + "\u2026\u00a1\u00bf"  # … ¡ ¿ as typed on phones


def normalise(body: str | None) -> str:
    """The candidate keyword: trimmed, trailing punctuation dropped, upper-cased."""
    if not body:
        return ""
    return body.strip().rstrip(_TRAILING).strip().upper()


def classify(body: str | None) -> str | None:
    """"opt_out", "opt_in", "help" or None for an inbound message body."""
    word = normalise(body)
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
