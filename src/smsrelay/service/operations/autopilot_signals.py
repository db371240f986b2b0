"""What the autopilot is told of the live causes: the one seam between it and the diagnosis.

Today's diagnosis (service/operations/incident.py, domain/diagnosis.py) ranks causes over a
window without knowing when each started or stopped; the autopilot adds onset and last seen per
cause from the failures themselves (when each failed), and where they are (org, sender, country,
template), so domain/autopilot.py can tell a live cause from one already cleared and choose its
scope. The time-aware diagnosis (issue 19, h19a) adds a live/resolved `state` to each cause,
which this already honours; its `causes.current_causes` may replace the two diagnosis lines
below (same facts, same ranking): this is the one function to change.

Templates are read from "metadata"->>'templateId', the field message templates (issue 17) set.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from smsrelay.domain import autopilot as rules
from smsrelay.domain import diagnosis
from smsrelay.service.operations import incident
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql


class _Where:
    def __init__(self) -> None:
        self.count = 0
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.codes: dict[str, int] = defaultdict(int)
        self.orgs: dict[str, int] = defaultdict(int)
        self.senders: dict[str, list[Any]] = {}
        self.countries: dict[str, int] = defaultdict(int)
        self.templates: dict[str, list[Any]] = {}

    def add(self, r: dict[str, Any]) -> None:
        n = r["count"]
        self.count += n
        self.first = min(filter(None, (self.first, r["first_at"])), default=None)
        self.last = max(filter(None, (self.last, r["last_at"])), default=None)
        if r["code"]:
            self.codes[r["code"]] += n
        self.orgs[r["orgId"]] += n
        for per, key in ((self.senders, r["from"]), (self.templates, r["template"])):
            if key:
                per.setdefault(key, [r["orgId"], 0])[1] += n
        if r["country"]:
            self.countries[r["country"]] += n


async def failures_by_cause(rt: Runtime, since: datetime) -> dict[str, _Where]:
    async with rt.pool.connection() as conn:
        rows = await sql.all(conn, "autopilot_failures", since=since)
    out: dict[str, _Where] = defaultdict(_Where)
    for r in rows:
        f = diagnosis.Failure(r["code"], r["orgId"], r["from"], r["count"], r["country"],
                              transient=r["transient"], http_status=r["http_status"])
        out[diagnosis.cause_of(f)].add(r)
    return out


async def live_causes(rt: Runtime) -> tuple[datetime, list[rules.Signal]]:
    """The database's now, and every cause the autopilot handles that the diagnosis names, with
    its confidence, onset, last seen and scope."""
    label = f"{rt.settings.autopilot_window_seconds}s"
    facts = await incident.gather_facts(rt, label, live=True)
    causes = {c.cause: c for c in diagnosis.diagnose(facts)}
    where = await failures_by_cause(rt, facts.until - timedelta(seconds=rt.settings.autopilot_window_seconds))
    signals = []
    for name in rules.CAUSES:
        cause, w = causes.get(name), where.get(name)
        # The time-aware diagnosis (h19a: service/operations/causes.py) says "resolved" of a cause
        # that stopped and whose traffic went through since: never acted on.
        if cause is None or getattr(cause, "state", "live") != "live":
            continue
        w = w or _Where()
        first = w.first
        # A live Twilio check (balance, account status) can name the account cause with no
        # failure yet: onset and last seen are then the check itself.
        if name == "account" and facts.twilio is not None and cause.confidence >= 0.9 and not w.count:
            first = w.last = facts.until
        signals.append(rules.Signal(
            cause=name, confidence=cause.confidence, summary=cause.summary, count=w.count,
            first_seen=first, last_seen=w.last, codes=tuple(sorted(w.codes, key=lambda c: -w.codes[c])),
            by_org=dict(w.orgs), by_sender={k: (v[0], v[1]) for k, v in w.senders.items()},
            by_country=dict(w.countries), by_template={k: (v[0], v[1]) for k, v in w.templates.items()}))
    return facts.until, signals
