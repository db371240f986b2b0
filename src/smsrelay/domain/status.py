"""The message status lattice: which status may replace which.

Twilio's callbacks arrive out of order and more than once, so a status update
is only applied when it moves a message strictly forward. Ranks:

    scheduled (ours: held until its sendAt; we never use Twilio's own scheduling)
  < queued (ours: accepted by us, waiting for a worker; also held messages)
  < accepted (Twilio has it; a Messaging Service is choosing a sender)
  < sending (ours: a worker is calling Twilio; also Twilio's own 'sending')
  < sent
  < delivered, undelivered, failed, canceled          (final; canceled: by the org, before sending)
  < read                                               (final, after delivered)

Twilio also reports its own 'queued' after 'accepted'; both mean "not yet
handed to a carrier", so ignoring that later 'queued' loses nothing.

Inbound messages go receiving < received.

Final statuses never change, with one exception: delivered -> read, because a
read receipt can only follow a delivery. Two different final statuses for one
message (say delivered and undelivered) do not happen with Twilio; if they ever
do, whichever was applied first wins, so the result then depends on arrival
order. That is deliberate: rewriting a final status would re-trigger alerts and
billing on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable

_RANKS: dict[str, int] = {
    "scheduled": -1,
    "queued": 0,
    "accepted": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
    "receiving": 3,
    "received": 4,
}

OUTBOUND_STATUSES: frozenset[str] = frozenset(
    {
        "queued",
        "accepted",
        "scheduled",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "read",
        "canceled",
    }
)
INBOUND_STATUSES: frozenset[str] = frozenset({"receiving", "received"})
ALL_STATUSES: frozenset[str] = OUTBOUND_STATUSES | INBOUND_STATUSES
FINAL_STATUSES: frozenset[str] = frozenset(
    {"delivered", "undelivered", "failed", "canceled", "read", "received"}
)
# Statuses that mean the message did not reach the handset.
FAILED_STATUSES: frozenset[str] = frozenset({"undelivered", "failed"})


def rank(status: str) -> int:
    try:
        return _RANKS[status]
    except KeyError:
        raise ValueError(f"unknown message status: {status!r}") from None


def is_final(status: str) -> bool:
    return status in FINAL_STATUSES


def should_apply(current: str, incoming: str) -> bool:
    """True iff ``incoming`` moves a message in ``current`` strictly forward.

    An ``incoming`` status we do not know is never applied (the raw callback is
    stored elsewhere, so nothing is lost); an unknown ``current`` raises,
    because that means our own data is corrupt.
    """
    current_rank = rank(current)
    if incoming not in _RANKS or incoming == current:
        return False
    # An inbound status on an outbound message (or vice versa) is a routing bug upstream.
    if (current in INBOUND_STATUSES) != (incoming in INBOUND_STATUSES):
        return False
    if current in FINAL_STATUSES:
        return current == "delivered" and incoming == "read"
    return _RANKS[incoming] > current_rank


def resolve(statuses: Iterable[str]) -> str:
    """The status reached by applying ``statuses`` in order, starting from the first."""
    iterator = iter(statuses)
    try:
        state = next(iterator)
    except StopIteration:
        raise ValueError("resolve() needs at least one status") from None
    rank(state)
    for incoming in iterator:
        if should_apply(state, incoming):
            state = incoming
    return state
