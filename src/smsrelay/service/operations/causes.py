"""The diagnosis as the autopilot reads it: the causes standing now, each with its confidence,
scope, onset, last failure and a live/resolved state.

`current_causes` is the one entry point (docs/design.md, "Diagnosis for the autopilot"): the
same facts and ranking as `smsrelay incident diagnose`, returned as domain objects rather
than a printed or JSON answer. A cause the autopilot may act on is `state == "live"`; a
resolved cause has stopped failing and traffic of its scope went through since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smsrelay.domain import diagnosis
from smsrelay.domain.incident_facts import Cause
from smsrelay.service.operations import incident
from smsrelay.service.runtime import Runtime


@dataclass(frozen=True)
class Diagnosis:
    since: datetime
    until: datetime  # the database's clock when the facts were read
    causes: tuple[Cause, ...]  # live first, most likely first; then "none"; then resolved ones

    def live(self, min_confidence: float = 0.0) -> tuple[Cause, ...]:
        return tuple(c for c in self.causes if c.state == "live" and c.cause != "none"
                     and c.confidence >= min_confidence)

    def resolved(self) -> tuple[Cause, ...]:
        return tuple(c for c in self.causes if c.state == "resolved")


async def current_causes(rt: Runtime, since: str = "1h", *, live: bool = True) -> Diagnosis:
    """`live=False` skips Twilio's account and number checks (no network call)."""
    facts = await incident.gather_facts(rt, since, live=live)
    return Diagnosis(facts.since, facts.until, tuple(diagnosis.diagnose(facts)))
