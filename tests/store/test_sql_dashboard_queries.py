"""The dashboard's named queries stay index-friendly: with sequential scans disabled, none of
them may still need one on "MessageLog" (a query that did would read all 10 million rows)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from smsrelay.store.db import psycopg_url
from smsrelay.store.sql import QUERIES

PARAMS = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "bucket": timedelta(minutes=30),
          "lo": "2026-01-01T01:00:00Z", "hi": "2026-01-02T00:00:00Z",
          "seconds": 900, "org_id": "org_x", "limit": 50, "to": "+14155550100", "status": "failed",
          "direction": "outbound", "sid": "SM0", "key": "k", "value": None, "channel": None}
READS = sorted(n for n in QUERIES if n.startswith(("dash_", "window_")) and '"MessageLog"' in QUERIES[n])


@pytest.mark.parametrize("name", READS)
def test_dashboard_query__uses_an_index_on_messagelog(database_url, name):
    with psycopg.connect(psycopg_url(database_url)) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + QUERIES[name], PARAMS).fetchall())
    assert 'Seq Scan on "MessageLog"' not in plan, plan
