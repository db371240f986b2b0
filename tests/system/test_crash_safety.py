"""Workers SIGKILLed at random points of a send lose nothing and send nothing twice.
The CI form kills a handful of times; `python -m bench faults` runs 50+ kills."""

from __future__ import annotations

from tests.support.faults import run_kills


def test_random_worker_kills__lose_nothing_and_send_nothing_twice(make_stack):
    # API latency opens the window between Twilio accepting and our commit of the sid.
    stack = make_stack(start_worker=False, sim_overrides={"api_latency": "lognormal:300:1500"})
    report = run_kills(stack, messages=60, kills=6)
    print(report.line())
    # Without this the run could pass having killed only idle workers (or nobody at all). On a
    # loaded two-core machine a restarted worker takes seconds to register, so fewer of the six
    # kills may happen within the loop's budget; each one that happens must hit a send.
    assert report.kills_in_send >= 2, report.line()
    assert report.kills_in_send == report.external_kills, report.line()
    assert report.duplicates == 0, report.line()
    assert report.lost == 0, report.line()
    assert report.sent_once == report.messages
    assert report.interrupted > 0, "the kills must have landed in the middle of sends"
