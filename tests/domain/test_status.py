import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsrelay.domain.status import (
    FINAL_STATUSES,
    OUTBOUND_STATUSES,
    is_final,
    rank,
    resolve,
    should_apply,
)


def test_final_statuses__are_exactly_twilios_terminal_ones():
    assert FINAL_STATUSES == {"delivered", "undelivered", "failed", "canceled", "read", "received"}


def test_outbound_statuses__include_every_twilio_outbound_status():
    assert OUTBOUND_STATUSES == {
        "accepted", "scheduled", "queued", "sending", "sent",
        "delivered", "undelivered", "failed", "read", "canceled",
    }


def test_rank__orders_the_happy_path():
    assert rank("queued") < rank("accepted") < rank("sending") < rank("sent") < rank("delivered") < rank("read")
    # Our own `scheduled` (held until sendAt) comes before the worker's queue.
    assert rank("scheduled") < rank("queued")


def test_rank__unknown_status_raises():
    with pytest.raises(ValueError):
        rank("teleported")


def test_is_final__yes_and_no():
    assert is_final("delivered") and is_final("failed") and is_final("received")
    assert not is_final("sent") and not is_final("queued")


@pytest.mark.parametrize(
    "current,incoming",
    [("queued", "accepted"), ("queued", "sending"), ("accepted", "sending"), ("sending", "sent"),
     ("sent", "delivered"), ("sent", "undelivered"), ("sending", "failed"), ("queued", "failed"),
     ("scheduled", "canceled"), ("scheduled", "queued"), ("queued", "canceled"), ("delivered", "read"), ("sent", "read"), ("receiving", "received")],
)
def test_should_apply__forward_moves_apply(current, incoming):
    assert should_apply(current, incoming)


@pytest.mark.parametrize(
    "current,incoming",
    [("delivered", "sent"), ("delivered", "undelivered"), ("failed", "delivered"), ("undelivered", "delivered"),
     ("failed", "read"), ("read", "delivered"), ("canceled", "sent"), ("sent", "sending"), ("sent", "queued"),
     ("accepted", "scheduled"), ("queued", "scheduled"), ("canceled", "queued"), ("read", "delivered"), ("sent", "sent"), ("delivered", "delivered"), ("received", "receiving")],
)
def test_should_apply__backward_sideways_or_from_final_does_not_apply(current, incoming):
    assert not should_apply(current, incoming)


def test_should_apply__unknown_incoming_is_ignored():
    assert not should_apply("sent", "teleported")


def test_should_apply__unknown_current_raises():
    with pytest.raises(ValueError):
        should_apply("teleported", "sent")


def test_should_apply__inbound_status_never_applies_to_outbound_message():
    assert not should_apply("sent", "received")


def test_resolve__late_sent_does_not_overwrite_delivered():
    assert resolve(["queued", "sending", "delivered", "sent"]) == "delivered"


def test_resolve__first_of_two_conflicting_finals_wins():
    assert resolve(["sent", "delivered", "undelivered"]) == "delivered"
    assert resolve(["sent", "undelivered", "delivered"]) == "undelivered"


def test_resolve__empty_sequence_raises():
    with pytest.raises(ValueError):
        resolve([])


_ENDINGS = [["delivered"], ["undelivered"], ["failed"], ["canceled"], ["delivered", "read"], ["read"], []]


@st.composite
def callback_sequences(draw):
    """One realistic outcome, some non-final callbacks, duplicates, in any order.

    A message may start scheduled (held by us until its sendAt), then goes the usual way.
    """
    start = draw(st.sampled_from([[], ["scheduled"]]))
    non_final = start + ["queued", "accepted", "sending", "sent"]
    ending = draw(st.sampled_from(_ENDINGS))
    events = draw(st.lists(st.sampled_from(non_final), min_size=1, max_size=8)) + ending
    dupes = draw(st.lists(st.sampled_from(events), max_size=6))
    return events + dupes


@given(callback_sequences(), st.randoms(use_true_random=False))
def test_resolve__any_permutation_with_duplicates_ends_in_the_same_status(events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    # With a single outcome the furthest status is unique, so it is the answer whatever the order.
    assert resolve(shuffled) == max(events, key=rank)


@given(callback_sequences())
def test_resolve__final_status_is_reached_whenever_one_arrives(events):
    assert is_final(resolve(events)) == any(is_final(e) for e in events)
