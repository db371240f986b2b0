"""Per-sender queues drained at the sender's speed (segments per second), as Twilio does.

Each sender has a FIFO and one worker task. The worker releases a message when its slot comes
up; slots are spaced by `segments / speed` seconds and scheduled from the previous slot (not
from when the worker woke up), so sleep jitter does not accumulate into a slower rate.
Twilio keeps up to ~4 hours of traffic per sender: beyond `queue_max_seconds` of backlog, create
answers 21611.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .config import SimConfig
from .state import Message

Release = Callable[[Message, float], Awaitable[None]]


def speed_for(kind: str, cfg: SimConfig) -> float:
    return {
        "short_code": cfg.speed_short_code,
        "toll_free": cfg.speed_toll_free,
    }.get(kind, cfg.speed_long_code)


@dataclass
class SenderQueue:
    sender: str
    kind: str
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    queued_segments: int = 0
    next_slot: float = 0.0  # wall-clock time of the next free slot
    task: asyncio.Task | None = None


class Throughput:
    def __init__(self, cfg: SimConfig, release: Release) -> None:
        self.cfg = cfg
        self._release = release
        self._senders: dict[str, SenderQueue] = {}

    def backlog_seconds(self, sender: str, kind: str, extra_segments: int = 0) -> float:
        q = self._senders.get(sender)
        queued = q.queued_segments if q else 0
        return (queued + extra_segments) / speed_for(kind, self.cfg)

    def would_overflow(self, sender: str, kind: str, segments: int) -> bool:
        # The message that finds an empty queue always goes out.
        q = self._senders.get(sender)
        if not q or q.queued_segments == 0:
            return False
        return self.backlog_seconds(sender, kind, segments) > self.cfg.queue_max_seconds

    def enqueue(self, sender: str, kind: str, msg: Message) -> None:
        q = self._senders.get(sender)
        if q is None:
            q = self._senders[sender] = SenderQueue(sender, kind)
        q.queued_segments += msg.num_segments
        q.queue.put_nowait(msg)
        if q.task is None or q.task.done():
            q.task = asyncio.get_running_loop().create_task(self._drain(q))

    def depth(self, sender: str) -> int:
        q = self._senders.get(sender)
        return q.queue.qsize() if q else 0

    async def _drain(self, q: SenderQueue) -> None:
        while True:
            # A plain get(): wait_for() around it can swallow a cancellation on Python 3.11.
            msg: Message = await q.queue.get()
            now = time.time()
            if q.next_slot > now:
                await asyncio.sleep(q.next_slot - now)
            slot = max(q.next_slot, now)
            q.next_slot = slot + msg.num_segments / speed_for(q.kind, self.cfg)
            q.queued_segments -= msg.num_segments
            try:
                await self._release(msg, slot)
            except Exception:  # pragma: no cover - a bad message must not stop the queue
                import logging

                logging.getLogger(__name__).exception("releasing %s failed", msg.sid)

    async def close(self) -> None:
        tasks = [q.task for q in self._senders.values() if q.task and not q.task.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._senders.clear()
