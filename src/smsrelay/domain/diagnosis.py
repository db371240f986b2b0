"""Ranking the likely causes of a messaging incident from aggregated facts.

Pure: the service layer gathers the facts (from "MessageLog", our own state and live Twilio
checks) and passes them in with the window; nothing here reads a clock, a database or the network.

How the ranking thinks:
* Every failure is attributed to a cause through the error-code catalogue.
* Destination errors (30003, 30005, 30006, 21211, 21610, 21614) are users' phones: a few percent
  of them is the normal background of any SMS traffic, never an incident, so their confidence
  grows with their share of traffic, not with their count.
* Every other code is abnormal at any volume, so a handful of them already says something; the
  share of traffic and live Twilio checks (balance, account status, number status) corroborate.
* "workers_not_running" is our side and outranks every Twilio cause: messages wait unsent while
  no worker heartbeats, so nothing will be sent whatever Twilio does; failures Twilio gave the
  workers before they went away (an outage, say) are then the second thing to look at.
* "pipeline_stalled" is our side: no live worker, a queue that does not move, the kill switch or
  an org disable left on, outbound flat while inbound continues.
* "none" is what is left: its confidence is one minus the strongest other cause.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from smsrelay.domain import anomaly, catalogue, pumping
from smsrelay.domain import diagnosis_pipeline as pipeline_causes
from smsrelay.domain import diagnosis_time as timing
from smsrelay.domain.incident_facts import (  # noqa: F401 - the diagnosis's vocabulary, re-exported
    Traffic, Failure, Held, Pipeline, NumberCheck, TwilioChecks, Facts, Cause, Baseline)

DESTINATION_BACKGROUND_SHARE = 0.05
STUCK_AFTER_SECONDS = pipeline_causes.STUCK_AFTER_SECONDS
WORKERS_MISSING_AFTER_SECONDS = pipeline_causes.WORKERS_MISSING_AFTER_SECONDS


def cause_of(f: Failure) -> str:
    entry = catalogue.lookup(f.code)
    if entry is not None:
        return entry.cause
    # Codes outside the catalogue: judge transient ones by how the request failed.
    if f.transient:
        if f.http_status is None or f.http_status >= 500:
            return "provider_outage"
        if f.http_status == 429:
            return "rate_limiting"
        if f.http_status in (401, 403):
            return "account"
    return "none"


def _ranked(counts: dict[str, int], limit: int = 10) -> tuple[str, ...]:
    return tuple(k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


class _Group:
    """The failures attributed to one cause, with where they concentrate."""

    def __init__(self, failures: Iterable[Failure]):
        self.failures = list(failures)
        self.count = sum(f.count for f in self.failures)
        self.final = sum(f.count for f in self.failures if not f.transient)
        self.by_org: dict[str, int] = defaultdict(int)
        self.by_sender: dict[str, int] = defaultdict(int)
        self.by_code: dict[str, int] = defaultdict(int)
        self.by_country: dict[str, int] = defaultdict(int)
        for f in self.failures:
            self.by_org[f.org_id] += f.count
            if f.sender:
                self.by_sender[f.sender] += f.count
            label = f.code or (f"HTTP {f.http_status}" if f.http_status else "network error")
            self.by_code[label + (" (retrying)" if f.transient else "")] += f.count
            if f.country:
                self.by_country[f.country] += f.count


def _strength(count: int) -> float:
    return 1 - math.exp(-count / 4)


def _abnormal_confidence(group: _Group, total: int) -> float:
    share = group.count / total if total else 1.0
    return 0.2 + 0.55 * _strength(group.count) + 0.2 * min(1.0, share / 0.2)


def _scope(orgs: tuple[str, ...], active_orgs: int) -> str:
    if not orgs:
        return ""
    if len(orgs) == 1:
        return f"one org ({orgs[0]}) of {active_orgs} with traffic"
    if len(orgs) >= active_orgs:
        return f"all {active_orgs} orgs with traffic"
    return f"{len(orgs)} of {active_orgs} orgs with traffic"


def _code_evidence(group: _Group, total: int) -> list[str]:
    lines = []
    for code, n in sorted(group.by_code.items(), key=lambda kv: -kv[1]):
        entry = catalogue.lookup(code.split(" ")[0])
        meaning = f" ({entry.meaning})" if entry else ""
        lines.append(f"{n} message(s) with {code}{meaning}: {_pct(n, total)} of {total} outbound")
    return lines


def diagnose(facts: Facts) -> list[Cause]:
    """Every cause with something to say, live ones first (most likely first), then "none",
    then the causes that have cleared."""
    total = sum(t.total for t in facts.traffic)
    active_orgs = len({t.org_id for t in facts.traffic})
    sender_totals: dict[str, int] = defaultdict(int)
    for t in facts.traffic:
        if t.sender:
            sender_totals[t.sender] += t.total
    grouped: dict[str, list[Failure]] = defaultdict(list)
    originals: dict[str, list[Failure]] = defaultdict(list)
    for f in facts.failures:
        originals[cause_of(f)].append(f)
        left = timing.unrecovered(f)
        if left is not None:
            grouped[cause_of(f)].append(left)
    ctx = _Context(facts, total, active_orgs, sender_totals)
    built = [c for c in (
        pipeline_causes.workers_not_running(facts),
        _account(ctx, _Group(grouped.get("account", ()))),
        _sender_number(ctx, _Group(grouped.get("sender_number", ()))),
        *(_simple(ctx, name, _Group(grouped.get(name, ()))) for name in _SIMPLE),
        _destination(ctx, _Group(grouped.get("destination", ()))),
        _provider_outage(ctx, _Group(grouped.get("provider_outage", ()))),
        pipeline_causes.pipeline_stalled(facts),
    ) if c is not None]
    named = {c.cause for c in built}
    causes = [timing.situate(c, grouped.get(c.cause, []), facts, checked_live=_checked_live(c.cause, facts),
                             recovered=sum(f.recovered for f in originals.get(c.cause, ())))
              for c in built]
    causes += [timing.all_recovered(name, _TITLES.get(name, name), fs) for name, fs in originals.items()
               if name not in named and name != "none" and fs and not grouped.get(name)]
    causes += anomaly.incidents(facts, grouped.get("none", []), [f for k, fs in grouped.items() if k != "none"
                                                                  for f in fs])
    causes += [pumping.cause(s, facts.since_label) for s in facts.pumping]
    causes = [timing.without_mitigations_in_force(c, facts) for c in causes]
    strongest = max((c.confidence for c in causes if c.state == "live"), default=0.0)
    unknown = _Group(grouped.get("none", ()))
    none_evidence = [f"{total} outbound message(s) in the window"]
    if unknown.count:
        none_evidence += [f"{line}; not in our error catalogue" for line in _code_evidence(unknown, total)]
    causes.append(Cause("none", max(0.05, 1 - strongest),
                        "No incident: nothing beyond ordinary background failures." if strongest < 0.5
                        else "Something else is more likely (see above).",
                        tuple(none_evidence), actions=(f"smsrelay incident status --since {facts.since_label}",)))
    order = {name: i for i, name in enumerate(catalogue.CAUSES)}
    causes.sort(key=lambda c: timing.rank_key(c, order))
    return causes


def _checked_live(cause: str, facts: Facts) -> bool:
    """A live Twilio check says the cause still stands, whatever the failures' times say."""
    tw = facts.twilio
    if tw is None:
        return False
    if cause == "account":
        return bool(tw.error_code in (20003, 20403) or tw.error_http_status in (401, 403)
                    or (tw.account_status and tw.account_status != "active")
                    or (tw.balance is not None and tw.balance <= 0))
    if cause == "provider_outage":
        return bool(tw.timed_out or (tw.error_http_status or 0) >= 500)
    if cause == "sender_number":
        return any(not n.found or n.status not in (None, "in-use") or n.sms_capable is False for n in tw.numbers)
    return False


@dataclass
class _Context:
    facts: Facts
    total: int
    active_orgs: int
    sender_totals: dict[str, int]

    @property
    def since(self) -> str:
        return self.facts.since_label


def _account(ctx: _Context, group: _Group) -> Cause | None:
    tw = ctx.facts.twilio
    evidence = _code_evidence(group, ctx.total)
    conf = _abnormal_confidence(group, ctx.total) if group.count else 0.0
    if tw is not None:
        if tw.error_code in (20003, 20403) or tw.error_http_status in (401, 403):
            conf = max(conf, 0.93)
            evidence.insert(0, f"Twilio refused our own check: {tw.error_code or tw.error_http_status} "
                               f"{tw.error_message or ''}".strip())
        if tw.account_status and tw.account_status != "active":
            conf = max(conf, 0.92)
            evidence.insert(0, f"Twilio account status is '{tw.account_status}'")
        if tw.balance is not None and tw.balance <= 0:
            conf = max(conf, 0.94)
            evidence.insert(0, f"Twilio balance is {tw.balance:.2f} {tw.currency or ''}".strip())
    if conf == 0.0:
        return None
    orgs = _ranked(group.by_org)
    scope = _scope(orgs, ctx.active_orgs)
    return Cause("account", min(conf, 0.98),
                 "Twilio account problem (balance, suspension or credentials)" + (f": {scope}" if scope else ""),
                 tuple(evidence), orgs, _ranked(group.by_sender),
                 ("smsrelay twilio balance", "smsrelay twilio account",
                  'smsrelay sms pause --reason "Twilio account issue"'),
                 codes=_ranked(group.by_code), share=group.count / ctx.total if ctx.total else None,
                 fix="Top up the balance, reactivate the account or fix the credentials (a person, in the Twilio Console)",
                 after_fix=_retries(ctx, group, orgs[:MAX_ORG_COMMANDS]))


def _sender_number(ctx: _Context, group: _Group) -> Cause | None:
    tw = ctx.facts.twilio
    broken = [n for n in (tw.numbers if tw else ()) if not n.found or n.status not in (None, "in-use")
              or n.sms_capable is False]
    if not group.count and not broken:
        return None
    evidence = _code_evidence(group, ctx.total)
    conf = _abnormal_confidence(group, ctx.total) if group.count else 0.35
    for sender, n in sorted(group.by_sender.items(), key=lambda kv: -kv[1]):
        evidence.append(f"{sender}: {n} of its {ctx.sender_totals.get(sender, n)} message(s) failed")
    for n in broken:
        conf = min(0.97, conf + 0.15)
        evidence.insert(0, f"Twilio: {n.number} is not on this account" if not n.found else
                        f"Twilio: {n.number} status '{n.status}', SMS capable: {n.sms_capable}")
    numbers = _ranked({**{n.number: 0 for n in broken}, **group.by_sender})
    orgs = _ranked(group.by_org)
    scope = _scope(orgs, ctx.active_orgs)
    actions = [f"smsrelay twilio number {n}" for n in numbers[:3]]
    actions += [f'smsrelay org disable {o} --reason "sender number failing"' for o in orgs[:MAX_ORG_COMMANDS]]
    return Cause("sender_number", conf, f"Sender number(s) {', '.join(numbers[:3])} failing"
                 + (f": {scope}" if scope else ""), tuple(evidence), orgs, numbers, tuple(actions),
                 codes=_ranked(group.by_code), share=group.count / ctx.total if ctx.total else None,
                 fix="Fix the sender: registration (10DLC / toll-free verification), capability or ownership",
                 after_fix=_retries(ctx, group, orgs[:MAX_ORG_COMMANDS]))


def _retry(since: str, org: str, codes: Iterable[str] | None = None, forced: bool = False) -> str:
    """One org per command: a cause spanning several orgs prints one retry per org."""
    codes = sorted(set(codes or ()))
    return (f"smsrelay retry --since {since} --org {org}" + (f" --codes {','.join(codes)}" if codes else "")
            + (" --yes" if forced else ""))


def _retries(ctx: "_Context", group: _Group, orgs: Iterable[str]) -> tuple[str, ...]:
    """The retries of a cause, per org, naming its codes; --yes only where a code needs it."""
    codes = [c for c in group.by_code if not c.endswith("(retrying)") and c.isdigit()]
    if not codes:
        return tuple(_retry(ctx.since, o) for o in orgs)
    forced = any(not catalogue.is_retryable(c) for c in codes)
    return tuple(_retry(ctx.since, o, codes, forced) for o in orgs)


# cause: (title, commands per org, the fix a person makes first)
_SIMPLE = {
    "content_filtering": ("Carriers are filtering message content",
                          lambda org, since: [f"smsrelay incident failures --since {since} --org {org}",
                                              f'smsrelay org disable {org} --reason "carrier filtering"'],
                          "Change the message content (no URL shorteners, A2P-compliant wording) before re-sending"),
    "rate_limiting": ("Sending faster than Twilio or the carriers accept",
                      lambda org, since: [f"smsrelay org throttle {org} --per-minute 30"],
                      "Throttle the org below its sender's or campaign's throughput"),
    "geo_permissions": ("Destination country not enabled in Twilio's Messaging Geo Permissions",
                        lambda org, since: [f"smsrelay incident failures --since {since} --org {org}"],
                        "Enable the destination country in Twilio Console > Messaging > Settings > Geo permissions"),
    "request": ("Our requests to Twilio are invalid (a parameter, the body or the recipient)",
                lambda org, since: [f"smsrelay incident failures --since {since} --org {org}"],
                "Fix what sends the request (the org's integration or ours); a re-send fails the same way"),
    "media": ("MMS media cannot be fetched or is not accepted",
              lambda org, since: [f"smsrelay incident failures --since {since} --org {org}"],
              "Make the media URLs publicly reachable, fast, and of a supported type and size"),
    "channel": ("A channel sender or template is refused (WhatsApp and other channels)",
                lambda org, since: [f"smsrelay incident failures --since {since} --org {org}"],
                "Fix the channel sender, its template approval or the 24-hour session in the Twilio Console"),
}
_TITLES = {name: v[0] for name, v in _SIMPLE.items()} | {
    "account": "Twilio account problem", "sender_number": "Sender number(s) failing",
    "destination": "User-phone failures", "provider_outage": "Twilio failing or unreachable"}
MAX_ORG_COMMANDS = 10


def _simple(ctx: _Context, cause: str, group: _Group) -> Cause | None:
    if not group.count:
        return None
    title, actions, fix = _SIMPLE[cause]
    evidence = _code_evidence(group, ctx.total)
    if group.by_country:
        evidence.append("destination countries: " + ", ".join(f"{c} ({n})" for c, n in
                                                              sorted(group.by_country.items(), key=lambda kv: -kv[1])))
    orgs = _ranked(group.by_org)
    scope = _scope(orgs, ctx.active_orgs)
    return Cause(cause, _abnormal_confidence(group, ctx.total), f"{title}: {scope}", tuple(evidence), orgs,
                 _ranked(group.by_sender), tuple(a for o in orgs[:MAX_ORG_COMMANDS] for a in actions(o, ctx.since)),
                 codes=_ranked(group.by_code), countries=_ranked(group.by_country),
                 share=group.count / ctx.total if ctx.total else None,
                 fix=fix, after_fix=_retries(ctx, group, orgs[:MAX_ORG_COMMANDS]))


def _destination(ctx: _Context, group: _Group) -> Cause | None:
    if not group.count:
        return None
    share = group.count / ctx.total if ctx.total else 1.0
    background = share < DESTINATION_BACKGROUND_SHARE
    summary = (f"Ordinary user-phone failures at {_pct(group.count, ctx.total)} of outbound: background, not an incident"
               if background else f"Many user-phone failures ({_pct(group.count, ctx.total)} of outbound): "
                                  "check the recipient lists of the orgs below")
    orgs = _ranked(group.by_org)
    return Cause("destination", min(0.9, 3 * share), summary, tuple(_code_evidence(group, ctx.total)), orgs,
                 _ranked(group.by_sender), (f"smsrelay incident errors --since {ctx.since}",)
                 + tuple(f"smsrelay incident failures --since {ctx.since} --org {o}" for o in orgs[:MAX_ORG_COMMANDS]),
                 codes=_ranked(group.by_code), share=share)


def _provider_outage(ctx: _Context, group: _Group) -> Cause | None:
    tw = ctx.facts.twilio
    evidence = _code_evidence(group, ctx.total)
    conf = _abnormal_confidence(group, ctx.total) if group.count else 0.0
    if tw is not None and (tw.timed_out or (tw.error_http_status or 0) >= 500
                           or (tw.error_message and tw.error_code is None and tw.error_http_status is None)):
        conf = min(0.97, max(conf, 0.5) + 0.2)
        evidence.insert(0, "Twilio did not answer our check in time" if tw.timed_out else
                        f"Twilio check failed: {tw.error_http_status or ''} {tw.error_message or ''}".strip())
    if conf == 0.0:
        return None
    orgs = _ranked(group.by_org)
    return Cause("provider_outage", conf, "Twilio is failing or unreachable (check status.twilio.com)"
                 + (f": {_scope(orgs, ctx.active_orgs)}" if orgs else ""), tuple(evidence), orgs,
                 _ranked(group.by_sender), ("smsrelay twilio account",), codes=_ranked(group.by_code),
                 share=group.count / ctx.total if ctx.total else None,
                 fix="Wait for Twilio to recover (status.twilio.com)",
                 after_fix=_retries(ctx, group, orgs[:MAX_ORG_COMMANDS]))
