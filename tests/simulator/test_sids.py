"""Simulator sids are unique across restarts and resets, whatever the seed: a real account never
issues a sid twice, and a restarted `smsrelay up` must not either."""

from __future__ import annotations

from smsrelay.simulator.state import SimState

from tests.support.sim_numbers import LONG, TO_US


def test_two_simulators_with_one_seed__never_issue_the_same_sid():
    first, restarted = SimState("AC" + "0" * 32, 0, "10"), SimState("AC" + "0" * 32, 0, "10")
    a = [first.new_sid("SM") for _ in range(50)]
    b = [restarted.new_sid("SM") for _ in range(50)]
    assert not set(a) & set(b)
    assert len(set(a)) == 50 and all(s.startswith("SM") and len(s) == 34 for s in a)


def test_reset__does_not_reissue_sids(twilio, sim):
    first = [twilio.messages.create(to=TO_US, from_=LONG, body=str(i)).sid for i in range(3)]
    sim.reset()
    again = [twilio.messages.create(to=TO_US, from_=LONG, body=str(i)).sid for i in range(3)]
    assert not set(first) & set(again)
