"""Scheduler duties are independent: each has its own deadline and failure handling, so a
reconcile hung on Twilio does not hold alert evaluation back, and a failing duty does not stop
the others."""

from __future__ import annotations

import asyncio
import time

from smsrelay.processes.scheduler import run_scheduler
from smsrelay.service.runtime import Runtime
from tests.support.servers import LoopThread
from tests.support.waiting import wait_until
from tests.service.delivery.test_reconcile_progress import stage_open
from tests.support.twilio_double import TwilioDouble


def runtime(stack) -> Runtime:
    return Runtime.create(stack.settings, stack.database_url, pool_size=4, name="test-scheduler")


def firing(stack) -> set[str]:
    return {r["key"] for r in stack.sql('SELECT "key" FROM "Alert" WHERE "state" = \'firing\'')}


def test_scheduler__reconcile_hung_on_twilio_does_not_hold_back_alert_evaluation(make_stack):
    with TwilioDouble(hang=True) as twilio:
        stack = make_stack(start_worker=False, settings_overrides={"twilio_api_base": twilio.url,
                                                                   "alert_backlog_seconds": 1})
        org = stack.create_org()
        stage_open(stack, org, "lost", 3, minutes_ago=120)  # reconcile's work: Twilio never answers
        with stack.client(org["apiKey"]) as api:  # no worker: this one waits, a backlog
            assert api.post("/v1/messages", json={"to": "+14155552671", "body": "waiting"}).status_code == 202
        scheduler = LoopThread(lambda: run_scheduler(runtime(stack), tick=0.2)).start()
        try:
            # Bound: the observability duty's Twilio step (the balance, hung too) gives up after its
            # own deadline, then alerts are evaluated; reconcile is still hung all along.
            wait_until(lambda: "sms_queue_backlog" in firing(stack), timeout=30, interval=0.2,
                       what="the backlog alert while reconcile hangs")
            assert twilio.fetches, "reconcile was asking Twilio (and hanging)"
        finally:
            scheduler.stop()
    assert scheduler.error is None


def test_scheduler__a_failing_or_hanging_duty_does_not_stop_the_others(make_stack):
    stack = make_stack(start_worker=False)
    runs = {"steady": 0, "failing": 0, "hanging": 0}

    async def steady(rt):
        runs["steady"] += 1

    async def failing(rt):
        runs["failing"] += 1
        raise RuntimeError("this duty is broken")

    async def hanging(rt):
        runs["hanging"] += 1
        await asyncio.Event().wait()

    duties = [("hanging", hanging), ("failing", failing), ("steady", steady)]
    scheduler = LoopThread(lambda: run_scheduler(runtime(stack), tick=0.05, duties=duties,
                                                 deadlines={"hanging": 0.3})).start()
    try:
        wait_until(lambda: runs["steady"] >= 5 and runs["failing"] >= 5 and runs["hanging"] >= 2, timeout=20,
                   what=lambda: f"every duty to keep running: {runs}")
    finally:
        scheduler.stop()
    assert scheduler.error is None
