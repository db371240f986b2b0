import re

import pytest

from smsrelay.domain.ids import ID_BODY_LENGTH, is_valid_id, new_id, split_id, timestamp_ms

_CROCKFORD = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


@pytest.mark.parametrize("prefix", ["msg", "org", "key", "num", "evt"])
def test_new_id__is_prefix_underscore_and_26_crockford_chars(prefix):
    value = new_id(prefix)
    head, body = value.split("_")
    assert head == prefix
    assert len(body) == ID_BODY_LENGTH == 26
    assert _CROCKFORD.match(body)


def test_new_id__embeds_the_given_timestamp():
    assert timestamp_ms(new_id("msg", now_ms=1_700_000_000_123)) == 1_700_000_000_123


def test_new_id__ids_sort_by_creation_time():
    times = [0, 1, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, (1 << 48) - 1]
    ids = [new_id("evt", now_ms=t) for t in times]
    assert sorted(ids) == ids


def test_new_id__same_millisecond_ids_differ():
    ids = {new_id("msg", now_ms=42) for _ in range(1000)}
    assert len(ids) == 1000


def test_new_id__uses_current_time_without_now_ms():
    import time

    before = time.time_ns() // 1_000_000
    value = new_id("msg")
    after = time.time_ns() // 1_000_000
    assert before <= timestamp_ms(value) <= after


@pytest.mark.parametrize("bad", ["", "MSG", "msg_", "m-g", "1msg"])
def test_new_id__rejects_bad_prefix(bad):
    with pytest.raises(ValueError):
        new_id(bad)


@pytest.mark.parametrize("ms", [-1, 1 << 48])
def test_new_id__rejects_timestamp_outside_48_bits(ms):
    with pytest.raises(ValueError):
        new_id("msg", now_ms=ms)


def test_is_valid_id__accepts_own_ids_and_checks_prefix():
    value = new_id("org")
    assert is_valid_id(value)
    assert is_valid_id(value, "org")
    assert not is_valid_id(value, "msg")


@pytest.mark.parametrize("bad", ["msg", "msg_123", "msg_" + "I" * 26, "msg_" + "8" + "0" * 25, "_" + "0" * 26])
def test_split_id__rejects_malformed(bad):
    with pytest.raises(ValueError):
        split_id(bad)
    assert not is_valid_id(bad)
