"""The simulator's HTTP/1.1 client for webhooks: keep-alive connections per origin, one request
at a time on each, every request written as a single buffer.

Why not aiohttp (or httpx before it): a status callback is one small form POST whose answer
only matters for its status, yet a general client builds request, payload, header and timeout
objects for each, and the simulator posts two callbacks per message while sharing the machine
with the pipeline it stands in for. This client does only what webhooks need: http and https,
Content-Length, chunked and read-to-close bodies, 1xx answers skipped, stale kept-alive
connections dropped before reuse.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


class NoAnswer(Exception):
    """No HTTP answer: the connection failed, closed early, or the answer was not HTTP."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class Target:
    """Where a URL's request goes, and how its request line and Host header read."""

    tls: bool
    host: str
    port: int
    path: str  # as given, never re-quoted: the receiver checks a signature over the URL
    host_header: str

    @classmethod
    @lru_cache(maxsize=4096)  # a message's callbacks all go to its one URL
    def of(cls, url: str) -> Target:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise NoAnswer(exc) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NoAnswer(ValueError(f"not an http(s) URL: {url!r}"))
        tls = parts.scheme == "https"
        rest = url.split("#", 1)[0][len(parts.scheme) + 3 + len(parts.netloc):]
        if not rest.startswith("/"):
            rest = "/" + rest
        return cls(tls, parts.hostname, port or (443 if tls else 80), rest, parts.netloc.rpartition("@")[2])


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one HTTP/1.x answer."""
    while True:
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        version, status = lines[0][:8], int(lines[0][9:12])
        if not 100 <= status < 200:
            break
    length, chunked, keep_alive = None, False, version == b"HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value
        elif name == b"connection":
            keep_alive = b"close" not in value and (keep_alive or b"keep-alive" in value)
    if status in (204, 304):
        return status, b"", keep_alive
    if chunked:
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append((await reader.readexactly(size + 2))[:-2])
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        return status, b"".join(parts), keep_alive
    if length is not None:
        return status, await reader.readexactly(length), keep_alive
    return status, await reader.read(), False


class WebhookClient:
    """At most `limit` requests in flight; waiting for a free slot is the sender's time, so only
    connecting and the exchange itself count against `timeout` (which may change at run time)."""

    def __init__(self, *, limit: int, timeout: float) -> None:
        self.timeout = timeout
        self._slots = asyncio.Semaphore(limit)
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def _connect(self, t: Target) -> _Connection:
        if t.tls and self._tls is None:
            self._tls = ssl.create_default_context()
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(t.host, t.port, ssl=self._tls if t.tls else None)
        return _Connection(reader, writer)

    def _take(self, key: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def post(self, url: str, head: str, body: bytes) -> tuple[int, bytes]:
        """POST `body` with the header lines `head` (each ending CRLF); raises NoAnswer when
        there is no HTTP answer, a timeout included (its cause is then a TimeoutError)."""
        t = Target.of(url)
        key = (t.tls, t.host, t.port)
        request = (f"POST {t.path} HTTP/1.1\r\nHost: {t.host_header}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self._slots:
            try:
                conn = self._take(key) or await self._connect(t)
            except OSError as exc:
                raise NoAnswer(exc) from exc
            kept = False
            try:
                async with asyncio.timeout(self.timeout):
                    conn.writer.write(request)
                    status, answer, kept = await _read_answer(conn.reader)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                raise NoAnswer(exc) from exc
            finally:
                if kept:
                    self._idle.setdefault(key, []).append(conn)
                else:
                    conn.close()
        return status, answer

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
