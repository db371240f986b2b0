"""What the events outbox (migration 0020) costs the send path: the same status-changing
statements with the "MessageLog" event triggers enabled and disabled, alternated round by round in
one fresh database (an in-run baseline, so the machine's load weighs on both alike).

    uv run python -m bench.events_outbox [--messages 2000] [--rounds 6]

Each round inserts a batch of queued messages in one statement (the batch accept's shape), then
moves each through queued → sent → delivered one UPDATE per message and status (the worker's and
the callbacks' shape, one statement and commit each). Prints the time per message of each arm, the
ratio, and the event rows written.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

import psycopg

from smsrelay.store import migrate
from smsrelay.store.db import psycopg_url

TRIGGERS = ('"MessageLog_events_insert"', '"MessageLog_events_update"')


def _round(conn: psycopg.Connection, org: str, n: int) -> float:
    ids = [f"msg_b{uuid.uuid4().hex}" for _ in range(n)]
    started = time.perf_counter()
    conn.execute("""INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "to", "content", "metadata")
                    SELECT i, %s, 'outbound', 'queued', '+14155552671', 'x', '{"attempts": 0}'::jsonb
                    FROM unnest(%s::text[]) i""", (org, ids))
    for status in ("sent", "delivered"):
        for message_id in ids:
            conn.execute('UPDATE "MessageLog" SET "status" = %s, "updatedAt" = now() WHERE "id" = %s',
                         (status, message_id))
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.server.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate.upgrade(url)
        with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
            conn.execute("""INSERT INTO "Org" ("id", "name") VALUES ('org_bench', 'bench');
                            INSERT INTO "OrgSettings" ("orgId", "statusWebhookUrl") VALUES ('org_bench', NULL)""")
            arms: dict[bool, list[float]] = {True: [], False: []}
            _round(conn, "org_bench", max(100, args.messages // 10))  # warm caches and plans
            for r in range(args.rounds * 2):
                enabled = r % 2 == 0
                for trigger in TRIGGERS:
                    conn.execute(f'ALTER TABLE "MessageLog" {"ENABLE" if enabled else "DISABLE"} TRIGGER {trigger}')
                arms[enabled].append(_round(conn, "org_bench", args.messages))
            events = conn.execute('SELECT count(*) FROM "WebhookEvent"').fetchone()[0]
        on, off = statistics.median(arms[True]), statistics.median(arms[False])
        print(f"messages per round {args.messages}, rounds per arm {args.rounds} (median), 3 statements a message")
        print(f"events triggers disabled: {off * 1000:.3f} ms per message (insert share + 2 status UPDATEs)")
        print(f"events triggers enabled:  {on * 1000:.3f} ms per message")
        print(f"ratio enabled/disabled:   {on / off:.3f}  (+{(on - off) * 1000:.3f} ms per message)")
        print(f"event rows written: {events}")
    finally:
        with psycopg.connect(args.server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
