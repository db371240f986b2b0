"""Whether an org may send a message to a recipient, before it is accepted: pure rules.

Each refusal prevents a Twilio error we would otherwise pay for or be filtered by: a country
the org does not serve (21408 / 21608), a landline (30006), content a carrier would block
(30007). Errors (empty, too long) always refuse; warnings refuse only under the org's "block"
policy, otherwise they travel back with the 202 so the org can fix its templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from smsrelay.domain.lint import POLICIES, Finding, LintResult, blocking
from smsrelay.domain.phone import PhoneCheck, is_landline, mask

REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Screening:
    refusal: Refusal | None
    findings: tuple[Finding, ...]

    def findings_dicts(self) -> list[dict[str, str]]:
        return [finding_dict(f) for f in self.findings]


def finding_dict(f: Finding) -> dict[str, str]:
    return {"code": f.code, "message": f.message, "severity": f.severity}


def landline_finding(check: PhoneCheck) -> Finding:
    return Finding("landline",
                   f"{mask(check.e164 or '')} is a fixed line by its numbering plan; "
                   "Twilio would fail an SMS to it with 30006.", "warning")


def screen(check: PhoneCheck, content: LintResult, *, allowed_countries: Sequence[str] | None,
           landline_policy: str, content_policy: str) -> Screening:
    """The verdict for one valid recipient and one linted body under the org's policies."""
    if allowed_countries and check.country not in allowed_countries:
        allowed = ", ".join(allowed_countries)
        return Screening(Refusal(
            "country_not_allowed",
            f"This org may send to {allowed} only; {mask(check.e164 or '')} is in {check.country or 'an unknown country'}. "
            "Twilio would refuse it with 21408 (no permission for that region).",
            {"country": check.country, "allowedCountries": list(allowed_countries), "twilioEquivalent": 21408}), ())
    findings: list[Finding] = []
    if is_landline(check):
        landline = landline_finding(check)
        if landline_policy == "block":
            return Screening(Refusal("landline_destination", landline.message, {"twilioEquivalent": 30006}), ())
        findings.append(landline)
    findings.extend(content.findings)
    stops = blocking(content.findings, content_policy)
    if stops:
        listed = "; ".join(f"{f.code}: {f.message}" for f in stops)
        return Screening(Refusal(
            "content_blocked", f"This org's content policy blocks the message: {listed}",
            {"findings": [finding_dict(f) for f in content.findings], "policy": content_policy}), tuple(findings))
    return Screening(None, tuple(findings))


# --- validating an org's policy settings --------------------------------------------------------

def policy(value: str, name: str) -> str:
    cleaned = (value or "").strip().lower()
    if cleaned not in POLICIES:
        raise ValueError(f"{name} must be one of {', '.join(POLICIES)}, not {value!r}")
    return cleaned


def region(value: str) -> str:
    cleaned = (value or "").strip().upper()
    if cleaned not in REGIONS:
        raise ValueError(f"{value!r} is not a region phone numbers are known for (ISO 3166-1 alpha-2, e.g. US, GB)")
    return cleaned


def countries(values: Iterable[str] | None) -> list[str] | None:
    """Normalised allow-list of regions; None or empty means any country."""
    if values is None:
        return None
    cleaned = list(dict.fromkeys(region(v) for v in values if v and v.strip()))
    return cleaned or None
