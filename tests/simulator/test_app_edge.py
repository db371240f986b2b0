"""What Twilio's edge does with a request it has received (src/smsrelay/simulator/app.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.sim_numbers import LONG, TO_US


def test_a_create_whose_caller_went_away_during_the_latency_is_still_created(sim, sim_server, settings):
    # Twilio works on a request it has received whether or not the caller still waits for the
    # answer: a worker killed in the middle of its call leaves a message at Twilio that nobody
    # recorded, which is what the fault runs must make their re-runs find.
    sim.configure(api_latency="fixed:500")
    with httpx.Client(base_url=f"{sim_server}/2010-04-01/Accounts/{settings.twilio_account_sid}",
                      auth=(settings.twilio_account_sid, settings.twilio_auth_token), trust_env=False,
                      timeout=httpx.Timeout(5, read=0.1)) as rest:
        with pytest.raises(httpx.ReadTimeout):
            rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": "gone before the answer"})
    rows = sim.wait_for(lambda r: len(r) == 1, timeout=5)
    assert rows[0]["body"] == "gone before the answer"
