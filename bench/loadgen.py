"""A deliberately small HTTP/1.1 load generator over asyncio streams.

Why not httpx or aiohttp: the load generator shares this 2-core machine with the API, the
workers, the simulator and PostgreSQL, so every microsecond it spends building requests is
taken from the system under test. Requests are encoded to bytes before the clock starts and
answers are parsed only as far as the status line and Content-Length. Loopback only.

Two shapes:
- closed loop (`closed_loop`): C connections each send back to back for a fixed time or count;
  it finds the maximum rate and the latency at that rate.
- open loop (`open_loop`): requests start at scheduled times whatever happened to earlier ones,
  and latency is measured from the scheduled time, so a stall cannot hide (no coordinated
  omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode


def request_bytes(method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
                  host: str = "127.0.0.1") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def form_body(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()


class Connection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"transfer-encoding" and b"chunked" in value.lower():
                return status, await self._chunked()
            elif lname == b"connection" and b"close" in value.lower():
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, body

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(data[:-2])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def record(self, status: int, body: bytes, latency: float, ok_statuses: Sequence[int], keep: bool) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in ok_statuses:
            self.latencies.append(latency)
            if keep:
                self.bodies.append(body)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def closed_loop(port: int, make: Callable[[int], bytes], *, concurrency: int, duration: float | None = None,
                      total: int | None = None, ok_statuses: Sequence[int] = (200,), keep_bodies: bool = False,
                      warmup: int = 0) -> Result:
    """C connections send back to back until `duration` seconds or `total` requests (whichever
    is given; both bound the loop so it always stops by itself). make(i) gives request i."""
    assert duration is not None or total is not None
    conns = [Connection("127.0.0.1", port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    for i in range(warmup):  # warm the server's caches and pools outside the measurement
        await conns[i % concurrency].send(make(-1 - i))
    result = Result()
    counter = {"next": 0}
    start = time.perf_counter()
    deadline = start + duration if duration is not None else float("inf")

    async def run(conn: Connection) -> None:
        while True:
            i = counter["next"]
            if (total is not None and i >= total) or time.perf_counter() >= deadline:
                return
            counter["next"] = i + 1
            raw = make(i)
            t0 = time.perf_counter()
            try:
                status, body = await conn.send(raw)
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                result.errors += 1
                await conn.close()
                continue
            result.record(status, body, time.perf_counter() - t0, ok_statuses, keep_bodies)

    await asyncio.gather(*(run(c) for c in conns))
    result.elapsed = time.perf_counter() - start
    await asyncio.gather(*(c.close() for c in conns))
    return result


async def open_loop(port: int, make: Callable[[int], bytes], *, rate: float, duration: float,
                    max_connections: int = 256, ok_statuses: Sequence[int] = (200,),
                    keep_bodies: bool = False) -> Result:
    """Request i starts at start + i / rate, on a free connection (a new one if all are busy,
    up to max_connections). Latency counts from the scheduled start."""
    total = int(rate * duration)
    idle: list[Connection] = []
    opened = {"n": 0}
    gate = asyncio.Semaphore(max_connections)
    result = Result()
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        scheduled = start + i / rate
        async with gate:
            conn = idle.pop() if idle else Connection("127.0.0.1", port)
            if conn.writer is None:
                opened["n"] += 1
            try:
                status, body = await conn.send(make(i))
            except (ConnectionError, asyncio.IncompleteReadError, OSError):
                result.errors += 1
                await conn.close()
                return
            result.record(status, body, time.perf_counter() - scheduled, ok_statuses, keep_bodies)
            idle.append(conn)

    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    await asyncio.gather(*(c.close() for c in idle))
    return result
