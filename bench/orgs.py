"""Orgs for the pipeline stages, made through the service's own use case (as `smsrelay org
create` would), and the request bodies the load generator replays."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from smsrelay.service.tenancy import orgs
from smsrelay.store.db import psycopg_url

from bench.loadgen import request_bytes


@dataclass(frozen=True)
class BenchOrg:
    id: str
    api_key: str
    number: str


def sender_number(i: int) -> str:
    # 650-2xx-xxxx: valid US numbers by libphonenumber's plan, distinct per org.
    return f"+1650{2000000 + i:07d}"


def recipient(rng: random.Random) -> str:
    return f"+1415{rng.randint(2000000, 9999999):07d}"


async def _create(url: str, count: int) -> list[BenchOrg]:
    made = []
    async with await AsyncConnection.connect(psycopg_url(url), row_factory=dict_row) as conn:
        for i in range(count):
            created = await orgs.create_org(conn, f"Bench org {i}", numbers=[sender_number(i)], actor="bench")
            made.append(BenchOrg(created.id, created.api_key, created.numbers[0]))
    return made


def create_orgs(url: str, count: int) -> list[BenchOrg]:
    return asyncio.run(_create(url, count))


BODIES = [
    "Your table for 2 is ready. Please come to the host stand.",
    "Reminder: your appointment is tomorrow at 10:30. Reply C to confirm.",
    "Your order #{n} has shipped and will arrive on Thursday.",
    "Your verification code is {n}. It expires in 10 minutes.",
]


def send_requests(bench_orgs: list[BenchOrg], count: int, seed: int = 7) -> list[bytes]:
    """`count` distinct POST /v1/messages requests, spread over the orgs, pre-encoded."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        org = bench_orgs[i % len(bench_orgs)]
        body = json.dumps({"to": recipient(rng), "body": rng.choice(BODIES).format(n=rng.randint(1000, 999999))})
        out.append(request_bytes("POST", "/v1/messages", body=body.encode(), headers={
            "Authorization": f"Bearer {org.api_key}", "Content-Type": "application/json"}))
    return out
