"""`incident diagnose` against every simulator scenario that maps to a cause: mixed traffic
from several orgs, the scenario staged in the simulator, and the top cause (plus the org or
number when the scenario targets one) asserted."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support.incident import NUMBERS, diagnose, history, make_orgs, recipient, send, settled, sim

TOLL_FREE = "+18885550100"
FR = "+33612345678"


@dataclass
class Case:
    scenario: str
    cause: str
    filters: dict = field(default_factory=dict)
    target: int | None = None  # index of the org (and its number) the scenario hits
    history: int = 10
    numbers: tuple[str, ...] = NUMBERS
    body: dict = field(default_factory=dict)  # org index -> body
    to: dict = field(default_factory=dict)  # org index -> recipient
    sim: dict = field(default_factory=dict)


CASES = [
    Case("account_suspended", "account"),
    Case("auth_failure", "account"),
    Case("balance_exhausted", "account"),
    Case("sender_number_issue", "sender_number", {"number": NUMBERS[1]}, target=1),
    Case("unregistered_10dlc", "sender_number"),
    Case("toll_free_unverified", "sender_number", target=2, numbers=(NUMBERS[0], NUMBERS[1], TOLL_FREE)),
    Case("content_filtering", "content_filtering", target=0, body={0: "Deal! https://bit.ly/3xYz now"}),
    Case("carrier_blocking", "content_filtering", {"number": NUMBERS[2]}, target=2),
    Case("unreachable", "destination", {"number": NUMBERS[1]}, target=1, history=3),
    Case("unknown_destination", "destination", history=3),
    Case("landline", "destination", history=3),
    Case("invalid_to", "destination", {"number": NUMBERS[0]}, target=0, history=3),
    Case("geo_blocked", "geo_permissions", {"country": "FR"}, target=0, to={0: FR}),
    Case("unknown_error", "provider_outage"),
    Case("outage", "provider_outage", sim={"outage_hang_seconds": 0}),
    Case("rate_limited", "rate_limiting"),
    Case("queue_overflow", "rate_limiting"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.scenario for c in CASES])
def test_diagnose__names_the_staged_cause(make_stack, case: Case):
    stack = make_stack(sim_overrides=case.sim)
    orgs = make_orgs(stack, case.numbers)
    history(stack, orgs, case.history)
    with sim(stack) as s:
        s.set_scenario(case.scenario, **case.filters)
        ids = [send(stack, org, case.to.get(i, recipient(10 * i + k)), case.body.get(i, "Your table is ready"))
               for i, org in enumerate(orgs) for k in range(3)]
        settled(stack, ids)
        result = diagnose(stack)
        s.clear_scenarios()

    top = result["causes"][0]
    assert top["cause"] == case.cause, result["causes"][:3]
    assert 0 <= top["confidence"] <= 1 and top["evidence"] and top["actions"]
    assert all(a.startswith("smsrelay ") for c in result["causes"] for a in c["actions"])
    if case.target is not None and case.cause != "destination" or case.scenario == "unreachable":
        assert top["orgs"] == [orgs[case.target]["id"]]
    if case.cause == "sender_number" and case.target is not None:
        assert top["numbers"] == [case.numbers[case.target]]
    confidences = [c["confidence"] for c in result["causes"]]
    assert confidences == sorted(confidences, reverse=True)


def test_diagnose__opted_out_recipients_are_destination(stack):
    orgs = make_orgs(stack)
    with sim(stack) as s:
        s.set_scenario("opted_out")
        for i, org in enumerate(orgs):
            s.send_inbound(recipient(90 + i), org["numbers"][0], "STOP")
        # Our own opt-out list would refuse these at the API; forget it to let Twilio answer 21610.
        stack.sql('DELETE FROM "OptOut"')
        ids = [send(stack, org, recipient(90 + i)) for i, org in enumerate(orgs)]
        ids += [send(stack, org, recipient(10 * i + k)) for i, org in enumerate(orgs) for k in range(2)]
        settled(stack, ids)
    top = diagnose(stack)["causes"][0]
    assert top["cause"] == "destination"
    assert any("21610" in e for e in top["evidence"])


def test_diagnose__background_destination_noise_is_not_an_incident(stack):
    orgs = make_orgs(stack)
    history(stack, orgs, 160, noise={"30003": 6, "30005": 4})  # 2% of ~490 messages
    ids = [send(stack, org, recipient(10 * i + k)) for i, org in enumerate(orgs) for k in range(3)]
    settled(stack, ids)
    causes = diagnose(stack)["causes"]
    assert causes[0]["cause"] in ("none", "destination")
    incident_causes = [c for c in causes if c["cause"] not in ("none", "destination")]
    assert all(c["confidence"] < 0.5 for c in incident_causes), incident_causes
    destination = next(c for c in causes if c["cause"] == "destination")
    assert "background" in destination["summary"]


def test_diagnose__workers_stopped_while_inbound_continues_is_pipeline_stalled(stack):
    orgs = make_orgs(stack)
    history(stack, orgs, 10)
    delivered = [send(stack, org, recipient(i)) for i, org in enumerate(orgs)]
    settled(stack, delivered)
    for worker in stack.workers:
        worker.stop()
    queued = [send(stack, org, recipient(20 + i)) for i, org in enumerate(orgs)]
    with sim(stack) as s:
        for i, org in enumerate(orgs):
            assert s.send_inbound(recipient(40 + i), org["numbers"][0], "Are you open today?")["status"] == 200
    assert {stack.message(m)["status"] for m in queued} == {"queued"}

    top = diagnose(stack)["causes"][0]
    assert top["cause"] == "pipeline_stalled"
    assert any("heartbeat" in e for e in top["evidence"])
    assert any("inbound continues" in e for e in top["evidence"])
    assert "smsrelay worker" in top["actions"]
