"""Paging cursors: round trip, and every mangled or foreign cursor refused (never a crash)."""

from datetime import datetime, timedelta, timezone

import pytest

from smsrelay.domain import cursor

AT = datetime(2026, 12, 2, 15, 4, 5, 123456, tzinfo=timezone.utc)


def test_round_trip__keeps_microseconds_and_the_values():
    token = cursor.encode("messages", [AT, "msg_abc"])
    assert cursor.decode(token, "messages", (datetime, str)) == [AT, "msg_abc"]
    assert "=" not in token and "msg_abc" not in token  # opaque, URL-safe
    assert cursor.decode(cursor.encode("events", [42]), "events", (int,)) == [42]


def test_round_trip__other_offsets_compare_equal():
    other = AT.astimezone(timezone(timedelta(hours=5)))
    assert cursor.decode(cursor.encode("messages", [other, "x"]), "messages", (datetime, str))[0] == AT


@pytest.mark.parametrize("token", [
    "", "x", "!!!!", "bm90IGpzb24", "e30", "W10", "a" * 600,
    cursor.encode("events", [1]),                    # another listing's
    cursor.encode("messages", ["x"]),                # wrong arity
    cursor.encode("messages", [1, "x"]),             # wrong type
    cursor.encode("messages", ["2026-12-02", "x"]),  # a string where a datetime goes
])
def test_decode__refuses_anything_not_issued_for_the_listing(token):
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(token, "messages", (datetime, str))


def test_decode__refuses_booleans_and_huge_ints_as_ints():
    with pytest.raises(cursor.InvalidCursor):
        cursor.decode(cursor.encode("events", [2**70]), "events", (int,))
    with pytest.raises(TypeError):
        cursor.encode("events", [True])


def test_encode__refuses_naive_datetimes():
    with pytest.raises(ValueError):
        cursor.encode("messages", [AT.replace(tzinfo=None), "x"])
