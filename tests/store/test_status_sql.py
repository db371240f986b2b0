"""The lattice in SQL (migration 0012) decides exactly as domain/status.py, for every pair of
statuses we know and for statuses we do not: batch updates in SQL rely on it."""

import itertools

import psycopg

from smsrelay.domain import status as lattice

UNKNOWN = ["bogus", "", "QUEUED"]


def test_sql_lattice__equals_the_domain_for_every_pair(database_url):
    known = sorted(lattice.ALL_STATUSES)
    pairs = list(itertools.product(known, known + UNKNOWN))
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c, i, smsrelay_status_should_apply(c, i), smsrelay_status_rank(c), smsrelay_status_is_final(c) "
            "FROM unnest(%s::text[], %s::text[]) AS p(c, i)",
            ([c for c, _ in pairs], [i for _, i in pairs])).fetchall()
    assert len(rows) == len(pairs)
    for current, incoming, applies, rank, final in rows:
        assert applies == lattice.should_apply(current, incoming), (current, incoming)
        assert rank == lattice.rank(current), current
        assert final == lattice.is_final(current), current
