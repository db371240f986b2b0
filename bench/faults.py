"""`uv run python -m bench faults [--kills 50] [--messages 300]`: the full crash-safety run.

Worker processes are SIGKILLed at random points of their sends (and kill themselves at the
failpoints inside the narrowest windows) while the simulator records every message it
accepted; the counts are printed: kills survived, messages lost (must be 0), duplicates
(must be 0). CI runs the same harness in a short form (tests/system/test_crash_safety.py).
"""

from __future__ import annotations

import argparse

from tests.support.faults import run_kills
from tests.support.postgres import DatabaseFactory, admin_database_url
from tests.support.stack import build_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50, help="external SIGKILLs while sends are in flight")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    admin_url, embedded_server = admin_database_url()
    factory = DatabaseFactory(admin_url)
    factory.prepare()
    stack = build_stack(factory.clone(), start_worker=False,
                        sim_overrides={"api_latency": "lognormal:300:1500", "speed_long_code": 200})
    try:
        report = run_kills(stack, messages=args.messages, kills=args.kills, workers=args.workers,
                           seed=args.seed, settle_timeout=600, kill_budget_seconds=3600)
    finally:
        stack.stop()
        factory.drop_all()
        if embedded_server is not None:
            embedded_server.stop()
    print(report.line())
    # A run whose kills all missed the sends proves nothing about them.
    return 0 if report.lost == 0 and report.duplicates == 0 and report.kills_in_send > 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
