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

from smsrelay.domain import catalogue
from smsrelay.domain.incident_facts import (  # noqa: F401 - the diagnosis's vocabulary, re-exported
    Traffic, Failure, Held, Pipeline, NumberCheck, TwilioChecks, Facts, Cause)

DESTINATION_BACKGROUND_SHARE = 0.05
STUCK_AFTER_SECONDS = 120
# Longer than a supervisor restart of a worker takes, so a restart blip names no cause.
WORKERS_MISSING_AFTER_SECONDS = 30


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
    """Every cause with something to say, most likely first; always ends with a ranking that
    includes "none"."""
    total = sum(t.total for t in facts.traffic)
    active_orgs = len({t.org_id for t in facts.traffic})
    sender_totals: dict[str, int] = defaultdict(int)
    for t in facts.traffic:
        if t.sender:
            sender_totals[t.sender] += t.total
    grouped: dict[str, list[Failure]] = defaultdict(list)
    for f in facts.failures:
        grouped[cause_of(f)].append(f)
    ctx = _Context(facts, total, active_orgs, sender_totals)
    causes = [c for c in (
        _workers_not_running(ctx),
        _account(ctx, _Group(grouped.get("account", ()))),
        _sender_number(ctx, _Group(grouped.get("sender_number", ()))),
        _simple(ctx, "content_filtering", _Group(grouped.get("content_filtering", ()))),
        _simple(ctx, "rate_limiting", _Group(grouped.get("rate_limiting", ()))),
        _simple(ctx, "geo_permissions", _Group(grouped.get("geo_permissions", ()))),
        _simple(ctx, "channel_rules", _Group(grouped.get("channel_rules", ()))),
        _destination(ctx, _Group(grouped.get("destination", ()))),
        _provider_outage(ctx, _Group(grouped.get("provider_outage", ()))),
        _pipeline_stalled(ctx),
    ) if c is not None]
    strongest = max((c.confidence for c in causes), default=0.0)
    unknown = _Group(grouped.get("none", ()))
    none_evidence = [f"{total} outbound message(s) in the window"]
    if unknown.count:
        none_evidence += [f"{line}; not in our error catalogue" for line in _code_evidence(unknown, total)]
    causes.append(Cause("none", max(0.05, 1 - strongest),
                        "No incident: nothing beyond ordinary background failures." if strongest < 0.5
                        else "Something else is more likely (see above).",
                        tuple(none_evidence), actions=(f"smsrelay incident status --since {facts.since_label}",)))
    order = {name: i for i, name in enumerate(catalogue.CAUSES)}
    causes.sort(key=lambda c: (-round(c.confidence, 4), order[c.cause]))
    return causes


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
                  'smsrelay sms pause --reason "Twilio account issue"',
                  f"smsrelay retry --since {ctx.since} --codes 20003,20403,30002,10001 --yes"))


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
    actions += [f'smsrelay org disable {o} --reason "sender number failing"' for o in orgs[:1]]
    return Cause("sender_number", conf, f"Sender number(s) {', '.join(numbers[:3])} failing"
                 + (f": {scope}" if scope else ""), tuple(evidence), orgs, numbers, tuple(actions))


_SIMPLE = {
    "content_filtering": ("Carriers are filtering message content",
                          lambda org, since: [f"smsrelay incident failures --since {since} --org {org}",
                                              f'smsrelay org disable {org} --reason "carrier filtering"']),
    "rate_limiting": ("Sending faster than Twilio or the carriers accept",
                      lambda org, since: [f"smsrelay org throttle {org} --per-minute 30",
                                          f"smsrelay retry --since {since}"]),
    "channel_rules": ("Messages break a channel's rules (MMS media, WhatsApp window or templates)",
                      lambda org, since: [f"smsrelay incident failures --since {since} --org {org}",
                                          f"smsrelay incident errors --since {since}"]),
    "geo_permissions": ("Destination country not enabled in Twilio's Messaging Geo Permissions",
                        lambda org, since: [f"smsrelay incident failures --since {since} --org {org}",
                                            f"smsrelay retry --since {since} --codes 21408 --yes"]),
}


def _simple(ctx: _Context, cause: str, group: _Group) -> Cause | None:
    if not group.count:
        return None
    title, actions = _SIMPLE[cause]
    evidence = _code_evidence(group, ctx.total)
    if group.by_country:
        evidence.append("destination countries: " + ", ".join(f"{c} ({n})" for c, n in
                                                              sorted(group.by_country.items(), key=lambda kv: -kv[1])))
    orgs = _ranked(group.by_org)
    scope = _scope(orgs, ctx.active_orgs)
    return Cause(cause, _abnormal_confidence(group, ctx.total), f"{title}: {scope}", tuple(evidence), orgs,
                 _ranked(group.by_sender), tuple(actions(orgs[0], ctx.since)))


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
                 + tuple(f"smsrelay incident failures --since {ctx.since} --org {o}" for o in orgs[:1]))


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
                 _ranked(group.by_sender), ("smsrelay twilio account", f"smsrelay retry --since {ctx.since}"))


def _workers_missing(p: Pipeline) -> bool:
    return (p.workers_alive == 0 and p.queued_unsent > 0 and p.oldest_queued_age_s is not None
            and p.oldest_queued_age_s >= WORKERS_MISSING_AFTER_SECONDS)


def _workers_not_running(ctx: _Context) -> Cause | None:
    p = ctx.facts.pipeline
    if not _workers_missing(p):
        return None
    evidence = [f"{p.queued_unsent} outbound message(s) queued and not yet sent, oldest {p.oldest_queued_age_s:.0f} s; "
                f"{p.jobs_todo} job(s) waiting",
                "no worker has sent a heartbeat recently" + (
                    f" (last one {p.last_heartbeat_age_s:.0f} s ago)" if p.last_heartbeat_age_s is not None else "")]
    if p.workers_registered:
        evidence.append(f"{p.workers_registered} worker(s) registered but silent: killed, hung or cut off from the database")
    # Above every Twilio cause: whatever Twilio does, these messages are sent only once a worker runs.
    return Cause("workers_not_running", 0.98, "No worker is running: queued messages wait unsent (our side)",
                 tuple(evidence), actions=("smsrelay worker", f"smsrelay incident status --since {ctx.since}"))


def _pipeline_stalled(ctx: _Context) -> Cause | None:
    p = ctx.facts.pipeline
    signals: list[float] = []
    evidence: list[str] = []
    actions: list[str] = []
    orgs: list[str] = []
    held_total = sum(h.count for h in p.held)
    waiting = p.queued_unsent + held_total
    if not p.feature_enabled:
        signals.append(0.9 if waiting else 0.5)
        evidence.append("FEATURE_SMS_ENABLED=false: every outbound send is held until it is set to true "
                        "and the workers restart")
    if p.paused:
        signals.append(0.9 if waiting else 0.6)
        evidence.append(f"SMS paused by {p.paused.get('by', '?')} since {p.paused.get('since', '?')}"
                        f" ({p.paused.get('reason') or 'no reason given'})")
        actions.append("smsrelay sms resume")
    if _workers_missing(p):
        pass  # workers_not_running says it, above this cause
    elif p.workers_alive == 0:
        signals.append(0.92 if p.queued_unsent else 0.4)
        evidence.append("no worker has sent a heartbeat recently" + (
            f" (last one {p.last_heartbeat_age_s:.0f} s ago)" if p.last_heartbeat_age_s is not None else ""))
        actions.append("smsrelay worker")
    elif p.stuck_unsent:
        signals.append(0.6)
        evidence.append(f"{p.stuck_unsent} message(s) queued for over {STUCK_AFTER_SECONDS} s without a send "
                        f"attempt while {p.workers_alive} worker(s) are alive")
    if p.queued_unsent:
        age = f", oldest {p.oldest_queued_age_s:.0f} s" if p.oldest_queued_age_s is not None else ""
        evidence.append(f"{p.queued_unsent} outbound message(s) queued and not yet sent{age}; {p.jobs_todo} job(s) waiting")
    held_orgs: dict[str, int] = defaultdict(int)
    for h in p.held:
        if h.reason == "org_disabled":
            held_orgs[h.org_id] += h.count
    for org in p.disabled_orgs:
        held = held_orgs.get(org, 0)
        signals.append(0.55 if held else 0.25)
        evidence.append(f"org {org} is disabled (smsDisabled) with {held} message(s) held")
        actions.append(f"smsrelay org enable {org}")
        orgs.append(org)
    if p.inbound_recent and p.outbound_recent and not p.outbound_handed_recent:
        signals.append(max(signals, default=0.45) + 0.05)
        evidence.append(f"outbound flat while inbound continues: since the oldest waiting message, "
                        f"{p.inbound_recent} inbound received and {p.outbound_recent} outbound accepted, "
                        "none sent to Twilio")
    if not signals:
        return None
    conf = min(0.97, max(signals) + 0.03 * (len(signals) - 1))
    actions.append(f"smsrelay incident status --since {ctx.since}")
    return Cause("pipeline_stalled", conf, "Our pipeline is not sending (workers, queue or a mitigation left on)",
                 tuple(evidence), tuple(orgs), (), tuple(dict.fromkeys(actions)))
