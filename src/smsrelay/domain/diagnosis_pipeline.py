"""The diagnosis's causes on our side: no worker running, or a pipeline that does not send.

Read from the pipeline's state now (queue, heartbeats, holds, mitigations), not from failures;
part of diagnosis.py's ranking.
"""

from __future__ import annotations

from collections import defaultdict

from smsrelay.domain.incident_facts import Cause, Facts, Pipeline

STUCK_AFTER_SECONDS = 120
# Longer than a supervisor restart of a worker takes, so a restart blip names no cause.
WORKERS_MISSING_AFTER_SECONDS = 30


def _workers_missing(p: Pipeline) -> bool:
    return (p.workers_alive == 0 and p.queued_unsent > 0 and p.oldest_queued_age_s is not None
            and p.oldest_queued_age_s >= WORKERS_MISSING_AFTER_SECONDS)


def workers_not_running(facts: Facts) -> Cause | None:
    p = facts.pipeline
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
                 tuple(evidence), actions=("smsrelay worker", f"smsrelay incident status --since {facts.since_label}"))


def pipeline_stalled(facts: Facts) -> Cause | None:
    p = facts.pipeline
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
    actions.append(f"smsrelay incident status --since {facts.since_label}")
    return Cause("pipeline_stalled", conf, "Our pipeline is not sending (workers, queue or a mitigation left on)",
                 tuple(evidence), tuple(orgs), (), tuple(dict.fromkeys(actions)))
