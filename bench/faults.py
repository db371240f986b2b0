"""`uv run python -m bench faults [--kills 200] [--quick]`: the full crash-safety run.

Every worker process is SIGKILLed while sends are in flight, `--kills` times, with the
production heartbeat and Twilio timeout (10 s each), part of the workers' status callbacks lost,
a Messaging Service sender whose smart encoding rewrites bodies, and identical texts to one
person; then every message is counted against the simulator's ledger (tests/support/faults.py).
Prints the counts and saves them to bench/results/faults.json; exits 1 unless nothing was lost
or sent twice, a kill hit a send and the adoption path ran. `--quick` is the CI form's scale.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from tests.support.faults import PRODUCTION, QUICK, run_kills, stack_options
from tests.support.postgres import DatabaseFactory, admin_database_url
from tests.support.stack import build_stack

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="kill events (every worker process at once)")
    parser.add_argument("--quick", action="store_true", help="heartbeat 1 s and Twilio timeout 5 s, as in CI")
    parser.add_argument("--workers", type=int, default=2, help="worker processes, each with 4 send slots")
    parser.add_argument("--max-messages", type=int, default=None, help="default: 25 per kill")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--budget", type=float, default=1500.0, help="seconds for the kills before giving up")
    parser.add_argument("--out", type=Path, default=RESULTS / "faults.json")
    args = parser.parse_args(argv)
    conditions = replace(QUICK if args.quick else PRODUCTION, workers=args.workers)

    admin_url, embedded_server = admin_database_url()
    factory = DatabaseFactory(admin_url)
    factory.prepare()
    stack = build_stack(factory.clone(), **stack_options(conditions))
    try:
        report = run_kills(stack, kills=args.kills, conditions=conditions, seed=args.seed,
                           max_messages=args.max_messages, budget_seconds=args.budget, settle_timeout=600)
    finally:
        stack.stop()
        factory.drop_all()
        if embedded_server is not None:
            embedded_server.stop()
    print(report.line())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.as_json() + "\n")
    print(f"saved {args.out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
