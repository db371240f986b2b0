"""A single send for a bearer key in one statement (api_limits.accept_with_key): what the cache
cannot know is decided by the statement, and a request that loses an idempotency race replays
the winner's answer with nothing of its own stored."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.rows import dict_row

from smsrelay.service.outbound import messages
from smsrelay.service.problems import Problem
from smsrelay.service.tenancy import api_limits
from smsrelay.service.tenancy.cache import TenancyCache
from smsrelay.store.db import psycopg_url

TO = "+14155552671"


def _connect(url: str):
    return psycopg.AsyncConnection.connect(psycopg_url(url), autocommit=True, row_factory=dict_row)


def _count(stack, table: str) -> int:
    return stack.sql(f'SELECT count(*) AS n FROM "{table}"')[0]["n"]


def test_stale_cached_policy__the_statement_notices_and_the_fresh_policy_decides(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()

    async def go():
        async with await _connect(stack.database_url) as conn:
            cache = TenancyCache()
            cache.live = True  # as if listening, but no notification will come
            await cache.org(conn, org["id"])
            await conn.execute('UPDATE "OrgSettings" SET "allowedCountries" = %s WHERE "orgId" = %s',
                               (["GB"], org["id"]))
            assert cache._orgs[org["id"]]["allowedCountries"] is None
            with pytest.raises(Problem) as refused:
                await api_limits.accept_with_key(conn, cache, org["apiKey"], org["id"], 100, to=TO, body="hi",
                                                 from_=None, idempotency_key=None)
            return refused.value, cache._orgs[org["id"]]

    problem, cached = asyncio.run(go())
    assert problem.status == 422 and problem.code == "country_not_allowed", problem.to_dict()
    assert cached["allowedCountries"] == ["GB"]
    assert _count(stack, "MessageLog") == 0
    assert stack.sql('SELECT sum("count") AS n FROM "RateCounter"')[0]["n"] == 1, "the retry counted the request twice"


def test_idempotency_race__the_loser_replays_the_winners_answer_and_stores_nothing(make_stack):
    stack = make_stack(start_worker=False)
    org = stack.create_org()
    request_hash = messages._request_hash({"to": TO, "body": "race", "from": None})
    winner = {"id": "msg_winner", "status": "queued"}

    async def go():
        async with await _connect(stack.database_url) as rival, await _connect(stack.database_url) as conn:
            await rival.execute("BEGIN")
            await rival.execute('INSERT INTO "IdempotencyKey" ("orgId", "key", "requestHash", "responseStatus", '
                                '"responseBody") VALUES (%s, %s, %s, 202, %s)',
                                (org["id"], "k", request_hash, psycopg.types.json.Jsonb(winner)))
            pid = conn.info.backend_pid
            send = asyncio.create_task(api_limits.accept_with_key(
                conn, TenancyCache(), org["apiKey"], org["id"], 100, to=TO, body="race", from_=None,
                idempotency_key="k"))
            for _ in range(500):
                cur = await rival.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
                if (await cur.fetchone())["wait_event_type"] == "Lock":
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the accept never waited for the rival's idempotency key")
            await rival.execute("COMMIT")
            return await send

    assert asyncio.run(go()) == (202, winner)
    assert _count(stack, "MessageLog") == 0
    assert _count(stack, "SendQueue") == 0
