"""Content checks run before a message is accepted.

The checks mirror what gets messages filtered by US carriers (runbook "Content
Filtering": spam triggers, blocked URLs, A2P compliance) and what quietly
costs money (characters that force UCS-2). Only errors are facts; warnings are
heuristics, which is why an org chooses whether they block ("block") or not
("warn").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from smsrelay.domain.segments import MAX_BODY_CHARACTERS, analyse, non_gsm_characters

SEVERITIES = ("error", "warning", "info")
POLICIES = ("block", "warn")

# Public shorteners hide the destination, so carriers filter them (runbook: "Remove URL shorteners").
URL_SHORTENERS: frozenset[str] = frozenset(
    {
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
        "rebrand.ly", "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "bl.ink", "short.io",
        "t.ly", "s.id", "v.gd", "lnkd.in", "tr.im", "shorte.st", "adf.ly", "bit.do",
        "soo.gd", "clck.ru", "qr.ae", "x.co", "po.st", "mcaf.ee", "su.pr", "db.tt",
    }
)

SPAM_PHRASES: tuple[str, ...] = (
    "free money", "act now", "winner", "you won", "you have won", "click here",
    "limited time", "100% free", "risk-free", "cash prize",
    "congratulations you", "urgent", "claim your prize", "claim now", "guaranteed",
    "no credit check", "lowest price", "order now", "buy now", "earn cash",
    "make money", "work from home", "double your", "cash bonus", "free gift",
    "free trial", "exclusive deal", "once in a lifetime", "no strings attached",
    "this is not spam", "apply now", "call now", "final notice", "pre-approved",
)

# Characters people paste from word processors that have a plain GSM-7 twin.
_GSM_TWINS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...",
    "\u00a0": " ", "\u2009": " ", "\u200b": "", "\u00ab": '"', "\u00bb": '"',
}

_HOST_RE = re.compile(
    r"(?<![\w@.\-/])(?:https?://)?"
    r"((?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]{0,61}[a-z0-9]?)"
    r"(?![\w\-]|\.[a-z0-9])",
    re.IGNORECASE,
)


def _phrase_pattern(phrase: str) -> str:
    # "risk-free" should also catch "risk free" and "riskfree"; spaces may be any run of whitespace.
    return r"\s+".join(
        r"[\s\-]?".join(re.escape(part) for part in word.split("-")) for word in phrase.split(" ")
    )


_SPAM_RES = tuple(
    (phrase, re.compile(r"(?<!\w)" + _phrase_pattern(phrase) + r"(?!\w)", re.IGNORECASE))
    for phrase in SPAM_PHRASES
)
# All phrases in one pattern: it matches exactly when one of the above does, in a tenth of the
# time of trying them one by one, and most bodies contain none (the batch send lints 1,000 at once).
_ANY_SPAM_RE = re.compile(
    r"(?<!\w)(?:" + "|".join(_phrase_pattern(phrase) for phrase in SPAM_PHRASES) + r")(?!\w)", re.IGNORECASE
)
_OPT_OUT_LANGUAGE = re.compile(
    r"\b(?:reply|text|txt|send|respond)(?:\s+with)?\s+[\"'“‘]?(?:stop|end|cancel|unsubscribe|quit|optout)\b"
    r"|\bstop\b[^.\n]{0,20}\b(?:opt[\s\-]?out|unsubscribe|cancel|end|quit)\b",
    re.IGNORECASE,
)
_UNICODE_NAMED_MAX = 10


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    severity: str  # "error" | "warning" | "info"


@dataclass(frozen=True)
class LintResult:
    encoding: str
    segments: int
    characters: int
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict:
        return {
            "encoding": self.encoding,
            "segments": self.segments,
            "characters": self.characters,
            "findings": [
                {"code": f.code, "message": f.message, "severity": f.severity} for f in self.findings
            ],
        }


def shortener_hosts(body: str) -> list[str]:
    """Shortener hostnames in ``body`` (whole hostnames, so "t.co" never matches "t.com")."""
    lowered = body.lower()
    # A host found below is lowered text of the body, so a shortener it names is a substring of
    # the lowered body: most bodies contain none, and need no walk over their hostnames.
    if not any(s in lowered for s in URL_SHORTENERS):
        return []
    found: dict[str, None] = {}
    for match in _HOST_RE.finditer(body):
        host = match.group(1).lower()
        if host.startswith("www."):
            host = host[4:]
        if any(host == s or host.endswith("." + s) for s in URL_SHORTENERS):
            found[host] = None
    return list(found)


def spam_phrases(body: str) -> list[str]:
    if _ANY_SPAM_RE.search(body) is None:
        return []
    return [phrase for phrase, pattern in _SPAM_RES if pattern.search(body)]


def has_opt_out_language(body: str) -> bool:
    return _OPT_OUT_LANGUAGE.search(body) is not None


def _describe_char(char: str) -> str:
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    twin = _GSM_TWINS.get(char)
    shown = repr(char) if not char.isprintable() or char.isspace() else char
    hint = f" -> {twin!r}" if twin is not None else ""
    return f"{shown} ({name}){hint}"


def _unicode_finding(body: str, segments: int) -> Finding:
    chars = non_gsm_characters(body)
    named = ", ".join(_describe_char(c) for c in chars[:_UNICODE_NAMED_MAX])
    more = f" and {len(chars) - _UNICODE_NAMED_MAX} more" if len(chars) > _UNICODE_NAMED_MAX else ""
    plain = "".join(_GSM_TWINS.get(c, c) for c in body)
    gsm = analyse(plain)
    saving = (
        f"; replacing them gives GSM-7 in {gsm.segments} segment(s) instead of {segments}"
        if gsm.encoding == "GSM-7"
        else ""
    )
    return Finding(
        "unicode_upgrade",
        f"Message is sent as UCS-2 (70 characters per segment, not 160) because of: {named}{more}{saving}.",
        "info",
    )


def lint(body: str, *, first_message_to_recipient: bool = False) -> LintResult:
    info = analyse(body)
    findings: list[Finding] = []
    if not body.strip():
        findings.append(Finding("empty_body", "Message body is empty; Twilio requires a body.", "error"))
    if len(body) > MAX_BODY_CHARACTERS:
        findings.append(
            Finding(
                "too_long",
                f"Message is {len(body)} characters; Twilio accepts at most {MAX_BODY_CHARACTERS}.",
                "error",
            )
        )
    for host in shortener_hosts(body):
        findings.append(
            Finding(
                "url_shortener",
                f"Public URL shortener {host} is commonly filtered by carriers; use a full link on your own domain.",
                "warning",
            )
        )
    for phrase in spam_phrases(body):
        findings.append(
            Finding("spam_phrase", f"Phrase {phrase!r} is a common carrier spam-filter trigger.", "warning")
        )
    if first_message_to_recipient and body.strip() and not has_opt_out_language(body):
        findings.append(
            Finding(
                "opt_out_language",
                "First message to this recipient has no opt-out instructions; add e.g. 'Reply STOP to opt out.'",
                "warning",
            )
        )
    if info.encoding == "UCS-2":
        findings.append(_unicode_finding(body, info.segments))
    return LintResult(info.encoding, info.segments, info.characters, tuple(findings))


def without(result: LintResult, code: str) -> LintResult:
    """The result with one finding left out (an empty body is fine when media or a template carries the message)."""
    return LintResult(result.encoding, result.segments, result.characters,
                      tuple(f for f in result.findings if f.code != code))


def lint_both(body: str) -> tuple[LintResult, LintResult]:
    """lint() as a first message to the recipient and as a later one, computed once: the accept
    statement learns which it is only when it runs, so both go with it."""
    first = lint(body, first_message_to_recipient=True)
    later = tuple(f for f in first.findings if f.code != "opt_out_language")
    return first, LintResult(first.encoding, first.segments, first.characters, later)


def blocking(findings: Iterable[Finding], policy: str) -> list[Finding]:
    """Findings that stop a send: errors always, warnings too under "block"."""
    stops = _STOPS.get(policy)
    if stops is None:
        raise ValueError(f"unknown lint policy {policy!r}; expected one of {POLICIES}")
    return [f for f in findings if f.severity in stops]


_STOPS = {"block": frozenset({"error", "warning"}), "warn": frozenset({"error"})}
