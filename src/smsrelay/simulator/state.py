"""In-memory state of the simulated Twilio account: numbers, messages (the ledger), opt-outs.

Everything random about what happens (scenario rates, injected faults) comes from one RNG
seeded with SIM_SEED, so a run with the same seed and the same requests meets the same faults.
Sids do not: like Twilio's they are never issued twice, across resets and restarts whatever
the seed, since a restarted simulator reissuing sids makes the service's sid-keyed rows collide.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal

from smsrelay.domain import keywords


@dataclass
class PhoneNumber:
    sid: str
    phone_number: str
    kind: str  # long_code | toll_free | short_code
    friendly_name: str
    date_created: float
    date_updated: float
    sms_url: str | None = None
    sms_method: str = "POST"
    status_callback: str | None = None
    status: str = "in-use"
    sms_capable: bool = True
    origin: str = "twilio"


@dataclass
class Message:
    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    direction: str  # outbound-api | inbound
    status: str
    num_segments: int
    encoding: str
    date_created: float
    date_updated: float
    num_media: int = 0
    # The sender actually used; equals from_ except for Messaging Service messages, whose
    # `from` stays null until the message leaves the queue.
    sender: str = ""
    date_sent: float | None = None
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    validity_period: int = 36000
    price: str | None = None  # once final (engine.py)
    charged: Decimal = Decimal(0)
    to_country: str | None = None
    channel: str = "sms"  # sms, mms (it carries media) or whatsapp
    window_closed: bool = False  # WhatsApp free text outside the 24-hour window: fails with 63016
    content_sid: str | None = None  # a Content template, with its variables as sent (a JSON string)
    content_variables: str | None = None
    # status callbacks as delivered: dicts with status, attempts, http_status, token
    callbacks: list[dict] = field(default_factory=list)
    # statuses the message went through, with times (for the ledger)
    history: list[tuple[str, float]] = field(default_factory=list)

    def set_status(self, status: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        self.status = status
        self.date_updated = at
        self.history.append((status, at))


class SimState:
    def __init__(self, account_sid: str, seed: int, balance: str) -> None:
        self.account_sid = account_sid
        self.seed = seed
        self.initial_balance = Decimal(balance)
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.seed)
        self.created_at = time.time()
        self.balance = self.initial_balance
        self.numbers: dict[str, PhoneNumber] = {}
        self.messages: dict[str, Message] = {}  # insertion order = creation order
        self.opted_out: set[tuple[str, str]] = set()  # (sender, recipient)

    # --- ids -------------------------------------------------------------------------------
    def new_sid(self, prefix: str) -> str:
        return prefix + secrets.token_hex(16)

    # --- numbers ---------------------------------------------------------------------------
    def number(self, e164: str) -> PhoneNumber | None:
        return self.numbers.get(e164)

    def number_by_sid(self, sid: str) -> PhoneNumber | None:
        return next((n for n in self.numbers.values() if n.sid == sid), None)

    def add_number(self, e164: str, kind: str, *, sms_url: str | None = None,
                   friendly_name: str | None = None, status_callback: str | None = None) -> PhoneNumber:
        existing = self.numbers.get(e164)
        if existing:
            if sms_url is not None:
                existing.sms_url = sms_url
                existing.date_updated = time.time()
            return existing
        now = time.time()
        num = PhoneNumber(
            sid=self.new_sid("PN"), phone_number=e164, kind=kind,
            friendly_name=friendly_name or e164, date_created=now, date_updated=now,
            sms_url=sms_url, status_callback=status_callback,
        )
        self.numbers[e164] = num
        return num

    # --- messages --------------------------------------------------------------------------
    def add_message(self, msg: Message) -> Message:
        self.messages[msg.sid] = msg
        return msg

    def ledger(self, *, to: str | None = None, from_: str | None = None,
               direction: str | None = None) -> list[Message]:
        out = []
        for m in self.messages.values():
            if to and m.to != to:
                continue
            if from_ and m.from_ != from_:
                continue
            if direction and not m.direction.startswith(direction):
                continue
            out.append(m)
        return out

    # --- billing ---------------------------------------------------------------------------
    def charge(self, amount: Decimal) -> None:
        self.balance -= amount

    @property
    def balance_exhausted(self) -> bool:
        return self.balance <= 0

    # --- opt-out ---------------------------------------------------------------------------
    def record_keyword(self, sender: str, recipient: str, body: str) -> str | None:
        """An inbound from `sender` to our `recipient` number; returns 'opt_out'/'opt_in'."""
        kind = keywords.classify(body)
        if kind == "opt_out":
            self.opted_out.add((recipient, sender))
        elif kind == "opt_in":
            self.opted_out.discard((recipient, sender))
        return kind

    def is_opted_out(self, sender: str, recipient: str) -> bool:
        return (sender, recipient) in self.opted_out
