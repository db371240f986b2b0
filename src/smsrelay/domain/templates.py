"""Message templates: a body with typed placeholders, checked when it is saved and rendered
when a message is sent from it. Pure: parsing, the worst-case expansion, rendering, diffs.

`Hi {{name}}, your table for {{party_size:int}} is ready`: a placeholder is a name and an
optional type (`str` when none is given). The type bounds what a value may be, which is what
lets the lint run on a template before any value exists: the shortest and the longest value of
each placeholder give the segment range, and a `str` value may always carry a character outside
GSM-7, which turns the whole message into UCS-2 (70 characters a segment, not 160).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smsrelay.domain import lint as content_lint
from smsrelay.domain.lint import Finding
from smsrelay.domain.segments import MAX_BODY_CHARACTERS, analyse

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_NAME = 64
MAX_PLACEHOLDERS = 20
# A str value is a name, a time, a short reference: long enough for those, short enough that the
# worst case stays honest (a free-text value would make every template's range meaningless).
MAX_STR_VALUE = 40
MAX_INT = 10**12

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([A-Za-z]+)\s*)?\}\}")
_BRACES = re.compile(r"\{\{|\}\}")

# Per type: the shortest value, the longest GSM-7 one (extension characters cost 2 septets),
# the longest UCS-2 one (None: the type only ever renders digits), and a plain sample.
_BOUNDS: dict[str, tuple[str, str, str | None, str]] = {
    "str": ("a", "€" * MAX_STR_VALUE, "\U0001F600" * MAX_STR_VALUE, "Alex"),
    "int": ("0", "-" + "9" * 12, None, "4"),
    "number": ("0", "-" + "9" * 12 + ".99", None, "9.5"),
}
TYPES = tuple(_BOUNDS)


class TemplateError(ValueError):
    """The template itself cannot be saved (a malformed placeholder, an unknown type)."""


@dataclass(frozen=True)
class Placeholder:
    name: str
    type: str


@dataclass(frozen=True)
class VariableError(ValueError):
    """A send's variables do not fit the template: kind is missing, unexpected or invalid."""
    kind: str
    variable: str
    message: str


@dataclass(frozen=True)
class Check:
    """What a save reports: the placeholders, the segment range and the lint findings."""
    placeholders: tuple[Placeholder, ...]
    segments_min: int
    segments_max: int
    encoding: str        # of the template's own text with plain values
    encoding_max: str    # with the worst values: UCS-2 whenever a str value could force it
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"placeholders": [{"name": p.name, "type": p.type} for p in self.placeholders],
                "segments": {"min": self.segments_min, "max": self.segments_max},
                "encoding": self.encoding, "worstEncoding": self.encoding_max,
                "findings": [{"code": f.code, "message": f.message, "severity": f.severity} for f in self.findings]}


def check_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not NAME.match(cleaned):
        raise TemplateError(f"a template name is 1 to {MAX_NAME} lower-case letters, digits and '_', "
                            "starting with a letter (e.g. table_ready)")
    return cleaned


def placeholders(body: str) -> tuple[Placeholder, ...]:
    """The body's placeholders in order of first appearance; TemplateError for a malformed one."""
    found: dict[str, Placeholder] = {}
    for match in _PLACEHOLDER.finditer(body):
        name, kind = match.group(1), (match.group(2) or "str").lower()
        if kind not in _BOUNDS:
            raise TemplateError(f"{{{{{name}:{kind}}}}} has an unknown type; use one of {', '.join(TYPES)}")
        if name in found and found[name].type != kind:
            raise TemplateError(f"{{{{{name}}}}} is given two types, {found[name].type} and {kind}")
        found.setdefault(name, Placeholder(name, kind))
    if _BRACES.search(_PLACEHOLDER.sub("", body)):
        raise TemplateError("the body has '{{' or '}}' outside a placeholder like {{name}} or {{party_size:int}}")
    if len(found) > MAX_PLACEHOLDERS:
        raise TemplateError(f"a template has at most {MAX_PLACEHOLDERS} placeholders")
    return tuple(found.values())


def _expand(body: str, pick: int) -> str:
    def value(match: re.Match[str]) -> str:
        kind = (match.group(2) or "str").lower()
        bounds = _BOUNDS[kind]
        return bounds[pick] if bounds[pick] is not None else bounds[1]
    return _PLACEHOLDER.sub(value, body)


def check(body: str) -> Check:
    """The save-time check: placeholders, the segment range over every value the types allow,
    and the content lint (as a first message to a recipient: a template is usually one)."""
    if not body or not body.strip():
        raise TemplateError("the template body is empty")
    marks = placeholders(body)
    shortest, sample = _expand(body, 0), _expand(body, 3)
    if len(shortest) > MAX_BODY_CHARACTERS:
        raise TemplateError(f"even with the shortest values the body is {len(shortest)} characters; "
                            f"Twilio accepts at most {MAX_BODY_CHARACTERS}")
    low, plain = analyse(shortest), analyse(sample)
    worst = max((analyse(_expand(body, 1)), analyse(_expand(body, 2))), key=lambda i: (i.segments, i.encoding))
    findings = [f for f in content_lint.lint(sample, first_message_to_recipient=True).findings]
    longest = max(len(_expand(body, 1)), len(_expand(body, 2)))
    if longest > MAX_BODY_CHARACTERS:
        findings.append(Finding("may_exceed_length", f"With the longest values the body is {longest} characters; "
                                f"a send over {MAX_BODY_CHARACTERS} is refused.", "warning"))
    unicode_vars = [p.name for p in marks if _BOUNDS[p.type][2] is not None]
    if unicode_vars and plain.encoding == "GSM-7":
        named = ", ".join("{{" + n + "}}" for n in unicode_vars)
        findings.append(Finding(
            "placeholder_unicode",
            f"A value of {named} with a character outside GSM-7 (an emoji, 'Ł', curly quotes) sends the whole "
            f"message as UCS-2: up to {worst.segments} segment(s) instead of {plain.segments}.", "info"))
    return Check(marks, low.segments, worst.segments, plain.encoding, worst.encoding, tuple(findings))


def _value(p: Placeholder, value: Any) -> str:
    if p.type == "str":
        if not isinstance(value, str):
            raise VariableError("invalid", p.name, f"'{p.name}' must be a string")
        if len(value) > MAX_STR_VALUE:
            raise VariableError("invalid", p.name, f"'{p.name}' is at most {MAX_STR_VALUE} characters")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise VariableError("invalid", p.name, f"'{p.name}' must be {'an integer' if p.type == 'int' else 'a number'}")
    if p.type == "int":
        if not isinstance(value, int) or abs(value) >= MAX_INT:
            raise VariableError("invalid", p.name, f"'{p.name}' must be an integer below {MAX_INT:,} in size")
        return str(value)
    if not math.isfinite(value) or abs(value) >= MAX_INT:
        raise VariableError("invalid", p.name, f"'{p.name}' must be a finite number below {MAX_INT:,} in size")
    return str(value) if isinstance(value, int) else f"{value:.2f}".rstrip("0").rstrip(".")


def render(body: str, variables: Mapping[str, Any] | None) -> str:
    """The body with each placeholder replaced by its value; VariableError names the first
    variable that is missing, not in the template, or not of its placeholder's type."""
    marks = {p.name: p for p in placeholders(body)}
    given = dict(variables or {})
    for name in marks:
        if name not in given:
            raise VariableError("missing", name, f"the template needs '{name}' ({marks[name].type})")
    for name in given:
        if name not in marks:
            raise VariableError("unexpected", str(name), f"'{name}' is not a placeholder of this template")
    values = {name: _value(p, given[name]) for name, p in marks.items()}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], body)


# WhatsApp: outside the 24-hour window only an approved Content template goes (Twilio's ContentSid,
# HX + 32 hex digits). A template may name one, with which of its placeholders fills each of the
# content template's variables ({"1": "name"}), so one send by template goes as free text within
# the window and as that content template outside it.
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_CONTENT_VARIABLE = re.compile(r"[A-Za-z0-9_]{1,64}")


def check_whatsapp(body: str, whatsapp: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The WhatsApp content of a template, normalised ({"contentSid", "variables"}), or
    TemplateError when the sid is malformed or a variable names no placeholder of the body."""
    if whatsapp is None:
        return None
    if not isinstance(whatsapp, Mapping):
        raise TemplateError("whatsapp is an object: {\"contentSid\": \"HX…\", \"variables\": {\"1\": \"name\"}}")
    sid = whatsapp.get("contentSid")
    if not isinstance(sid, str) or not CONTENT_SID.fullmatch(sid):
        raise TemplateError("whatsapp.contentSid is a Twilio Content sid: HX and 32 hex digits")
    variables = whatsapp.get("variables") or {}
    if not isinstance(variables, Mapping) or len(variables) > MAX_PLACEHOLDERS:
        raise TemplateError(f"whatsapp.variables maps at most {MAX_PLACEHOLDERS} content variables to placeholders")
    names = {p.name for p in placeholders(body)}
    for key, name in variables.items():
        if not isinstance(key, str) or not _CONTENT_VARIABLE.fullmatch(key):
            raise TemplateError("a whatsapp.variables key is a content variable like \"1\" (letters, digits, '_')")
        if name not in names:
            raise TemplateError(f"whatsapp.variables[{key!r}] names {name!r}, which is no placeholder of the body")
    return {"contentSid": sid, "variables": dict(variables)}


def content_variables(body: str, whatsapp: Mapping[str, Any], variables: Mapping[str, Any] | None) -> dict[str, str]:
    """Twilio's ContentVariables for a send: each content variable gets its placeholder's value,
    as render() writes it into the body (render() has already checked the values)."""
    marks = {p.name: p for p in placeholders(body)}
    given = dict(variables or {})
    return {key: _value(marks[name], given[name]) for key, name in whatsapp.get("variables", {}).items()}


def changes(before: str, after: str) -> list[str]:
    """What an edit changed, word by word: '- removed' and '+ added' runs, for a person to read."""
    old, new = before.split(), after.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op in ("replace", "delete"):
            out.append("- " + " ".join(old[i1:i2]))
        if op in ("replace", "insert"):
            out.append("+ " + " ".join(new[j1:j2]))
    return out
