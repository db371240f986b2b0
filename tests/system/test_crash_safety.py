"""Workers SIGKILLed while sends are in flight lose nothing, send nothing twice, and a crashed
send whose status callbacks are lost is matched to Twilio's copy. The CI form kills a few times
with the heartbeat and Twilio timeout scaled down; `python -m bench faults` kills 200 times with
production settings."""

from __future__ import annotations

from tests.support.faults import QUICK, run_kills, stack_options


def test_random_worker_kills__lose_nothing_send_nothing_twice_and_adopt(make_stack):
    stack = make_stack(**stack_options(QUICK))
    report = run_kills(stack, kills=4, conditions=QUICK, budget_seconds=35, settle_timeout=45)
    print(report.line())
    # Without this the run could pass having killed only idle workers (or nobody at all).
    assert report.kills_in_send >= 2, report.line()
    assert report.duplicated == 0, report.line()
    assert report.wrong_sid == 0, report.line()
    assert report.lost == 0, report.line()
    assert report.failed == 0, report.line()
    assert report.unsettled == 0, report.line()
    # The first workers crash once Twilio has accepted a send whose callbacks go nowhere: only
    # finding Twilio's copy settles it, so a run that never adopts has not tested adoption.
    assert report.adopted >= 1, report.line()
    assert report.sent_once + report.still_unknown - report.still_unknown_at_twilio == report.messages, report.line()
