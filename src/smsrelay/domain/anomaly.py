"""Codes nobody told the diagnosis about: an uncatalogued code, or a background code far above its
usual rate, is an incident of its own when it concentrates or rises above its baseline.

Pure. The baseline is the same hours on earlier days, from the hourly rollup (Facts.baseline):
how much traffic each org had then and how much of it failed with each code. A code is compared
with its own usual share of traffic, never with a fixed threshold, so a code that is always
there at 2% stays background and one that was never seen stands out from its first few hits:

* **concentrated**: at one org, at least MIN_COUNT failures and MIN_ORG_SHARE of that org's
  traffic, and above what the org's own baseline share of that code predicts;
* **risen**: over all traffic, above what the code's baseline share predicts, and at least
  MIN_SHARE of it.

"Above what it predicts" is RISE_FACTOR times the expected count plus three standard deviations
of a Poisson count: ordinary noise (a few scattered hits, the usual rate) is never an incident.
The incident names the code, its scope (orgs, then the senders, countries, templates and
channels holding most of its failures there) and its share.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from smsrelay.domain import catalogue
from smsrelay.domain import diagnosis_time as timing
from smsrelay.domain.incident_facts import Cause, Facts, Failure

MIN_COUNT = 5
MIN_ORG_SHARE = 0.10
MIN_SHARE = 0.02
RISE_FACTOR = 3.0
# A dimension value holding this much of the code's failures is named as its scope.
SCOPE_SHARE = 0.8
# Known codes that are background by nature (users' phones) are the ones a surge can hide in;
# every other known code is an incident of its runbook cause at any volume.
BACKGROUND_CAUSES = ("destination",)


def _above(observed: int, expected: float) -> bool:
    return observed > RISE_FACTOR * expected + 3 * math.sqrt(max(expected, 0.0))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _narrow(failures: Iterable[Failure], key) -> tuple[str, ...]:
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for f in failures:
        total += f.count
        value = key(f)
        if value:
            counts[value] += f.count
    for value, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if total and n / total >= SCOPE_SHARE:
            return (value,)
    return ()


def incidents(facts: Facts, unknown: list[Failure], known: list[Failure]) -> list[Cause]:
    traffic: dict[str, int] = defaultdict(int)
    for t in facts.traffic:
        traffic[t.org_id] += t.total
    total = sum(traffic.values())
    base_traffic: dict[str, int] = defaultdict(int)
    base_code: dict[tuple[str, str], int] = defaultdict(int)
    for b in facts.baseline:
        if b.code == "":
            base_traffic[b.org_id] += b.count
        else:
            base_code[(b.code, b.org_id)] += b.count
    by_code: dict[str, list[Failure]] = defaultdict(list)
    for f in unknown:
        if f.code:
            by_code[f.code].append(f)
    for f in known:
        entry = catalogue.lookup(f.code)
        if entry is not None and entry.cause in BACKGROUND_CAUSES and not f.transient:
            by_code[str(entry.code)].append(f)
    out = []
    for code, failures in sorted(by_code.items()):
        cause = _incident(facts, code, failures, traffic, total, base_traffic, base_code)
        if cause is not None:
            out.append(timing.situate(cause, failures, facts))
    return out


def _incident(facts: Facts, code: str, failures: list[Failure], traffic: dict[str, int], total: int,
              base_traffic: dict[str, int], base_code: dict[tuple[str, str], int]) -> Cause | None:
    n = sum(f.count for f in failures)
    if n < MIN_COUNT or not total:
        return None
    per_org: dict[str, int] = defaultdict(int)
    for f in failures:
        per_org[f.org_id] += f.count
    known = catalogue.lookup(code) is not None
    history_total = sum(base_traffic.values())
    history_code = sum(v for (c, _), v in base_code.items() if c == code)
    usual = history_code / history_total if history_total else 0.0
    orgs, lines = [], []
    for org, hits in sorted(per_org.items(), key=lambda kv: -kv[1]):
        seen = traffic.get(org) or hits
        org_usual = base_code.get((code, org), 0) / base_traffic[org] if base_traffic.get(org) else usual
        if hits >= MIN_COUNT and hits / seen >= MIN_ORG_SHARE and _above(hits, org_usual * seen):
            orgs.append(org)
            lines.append(f"org {org}: {hits} of its {seen} outbound message(s) ({_pct(hits / seen)}) failed with {code}; "
                         + (f"usual share at this hour {_pct(org_usual)}" if base_traffic.get(org) or history_total
                            else "no earlier days to compare with"))
    risen = history_total > 0 and n / total >= MIN_SHARE and _above(n, usual * total)
    if not orgs and not risen:
        return None
    scoped = [f for f in failures if f.org_id in orgs] if orgs else failures
    in_scope = sum(f.count for f in scoped)
    scope_total = sum(traffic.get(o, 0) for o in orgs) if orgs else total
    share = in_scope / scope_total if scope_total else 1.0
    senders = _narrow(scoped, lambda f: f.sender)
    countries = _narrow(scoped, lambda f: f.country)
    templates = _narrow(scoped, lambda f: f.template)
    channels = _narrow(scoped, lambda f: f.channel)
    where = [f"org {', '.join(orgs)}" if orgs else f"all traffic ({len(per_org)} org(s))"]
    where += [f"{label} {v[0]}" for label, v in (("sender", senders), ("country", countries),
                                                  ("template", templates), ("channel", channels)) if v]
    what = (f"error {code} ({catalogue.lookup(code).meaning})" if known
            else f"error {code}, which is not in our error catalogue")
    summary = f"{what[0].upper() + what[1:]}: {_pct(share)} of {'the org' if len(orgs) == 1 else 'the scope'}'s outbound, at {'; '.join(where)}"
    evidence = lines + [f"{n} failure(s) with {code} in the window, {_pct(n / total)} of {total} outbound; "
                        + (f"usual share at this hour on earlier days {_pct(usual)}" if history_total
                           else "no earlier days in the rollup to compare with")]
    if risen:
        evidence.append(f"above its baseline: expected about {usual * total:.1f} at the usual rate")
    conf = min(0.95, 0.55 + 0.4 * min(1.0, share / 0.5))
    actions = tuple(f"smsrelay incident failures --since {facts.since_label} --org {o} --code {code}"
                    for o in (orgs or sorted(per_org, key=lambda o: -per_org[o]))[:10])
    fix = (f"Read Twilio's entry (https://www.twilio.com/docs/api/errors/{code}), fix its cause, and add the code "
           "to the catalogue" if not known else "Check the recipient lists and sources of the scope above")
    return Cause("code_surge" if known else "unknown_code", conf, summary, tuple(evidence),
                 tuple(orgs or sorted(per_org, key=lambda o: -per_org[o])),
                 senders or tuple(sorted({f.sender for f in scoped if f.sender})), actions,
                 share=share, codes=(code,), countries=countries, templates=templates, channels=channels, fix=fix)
