"""The webhook client against servers that answer in each shape HTTP/1.x allows."""

from __future__ import annotations

import asyncio

import pytest

from smsrelay.simulator.webhook_http import NoAnswer, WebhookClient
from tests.support.ports import free_port

HEAD = "Content-Type: application/x-www-form-urlencoded\r\n"


class RawServer:
    """Answers every request with `answer` (bytes, or a callable of the request number); records
    each request's head and how many connections were opened; closes after answering if asked."""

    def __init__(self, answer, *, close_after: bool = False, delay: float = 0.0) -> None:
        self.answer, self.close_after, self.delay = answer, close_after, delay
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawServer:
        self.port = free_port()
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        for w in self.writers:
            w.close()
        self.server.close()

    def url(self, path: str = "/status") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.bodies.append(await reader.readexactly(length))
                self.heads.append(head)
                await asyncio.sleep(self.delay)
                answer = self.answer(len(self.heads)) if callable(self.answer) else self.answer
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def test_keeps_the_connection_alive_between_requests():
    client = WebhookClient(limit=10, timeout=2)
    async with RawServer(OK) as server:
        for _ in range(3):
            assert await client.post(server.url(), HEAD, b"a=1") == (200, b"ok")
    await client.close()
    assert server.connections == 1 and server.bodies == [b"a=1"] * 3


async def test_sends_the_url_as_given_with_its_host_and_headers():
    client = WebhookClient(limit=10, timeout=2)
    async with RawServer(OK) as server:
        await client.post(server.url("/status?messageId=a%2Fb+c&x=%7E"), HEAD, b"k=v")
    await client.close()
    head = server.heads[0].decode()
    assert head.startswith("POST /status?messageId=a%2Fb+c&x=%7E HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in head
    assert "\r\nContent-Type: application/x-www-form-urlencoded\r\n" in head
    assert "\r\nContent-Length: 3\r\n" in head


async def test_reads_chunked_answers_with_trailers():
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\n<Re\r\n8;ext=1\r\nsponse/>\r\n0\r\nX-Trailer: 1\r\n\r\n")
    client = WebhookClient(limit=10, timeout=2)
    async with RawServer(answer) as server:
        assert await client.post(server.url(), HEAD, b"") == (200, b"<Response/>")
        assert await client.post(server.url(), HEAD, b"") == (200, b"<Response/>")
    await client.close()
    assert server.connections == 1


async def test_reads_an_http_1_0_answer_to_the_close():
    client = WebhookClient(limit=10, timeout=2)
    async with RawServer(b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", close_after=True) as server:
        assert await client.post(server.url(), HEAD, b"") == (503, b"busy")
        assert await client.post(server.url(), HEAD, b"") == (503, b"busy")
    await client.close()
    assert server.connections == 2


async def test_skips_interim_answers():
    client = WebhookClient(limit=10, timeout=2)
    async with RawServer(b"HTTP/1.1 100 Continue\r\n\r\n" + OK) as server:
        assert await client.post(server.url(), HEAD, b"") == (200, b"ok")
    await client.close()


async def test_a_connection_the_server_closed_while_idle_is_not_reused():
    client = WebhookClient(limit=10, timeout=2)
    closing = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with RawServer(closing, close_after=True) as server:
        assert await client.post(server.url(), HEAD, b"") == (200, b"ok")
        await asyncio.sleep(0.1)  # the server's FIN arrives
        assert await client.post(server.url(), HEAD, b"") == (200, b"ok")
    await client.close()
    assert server.connections == 2


async def test_connection_close_in_the_answer_is_honoured():
    client = WebhookClient(limit=10, timeout=2)
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with RawServer(answer, close_after=True) as server:
        assert await client.post(server.url(), HEAD, b"") == (200, b"")
        assert await client.post(server.url(), HEAD, b"") == (200, b"")
    await client.close()
    assert server.connections == 2


async def test_no_listener_garbage_and_slowness_are_no_answer():
    client = WebhookClient(limit=10, timeout=0.3)
    with pytest.raises(NoAnswer):
        await client.post(f"http://127.0.0.1:{free_port()}/status", HEAD, b"")
    async with RawServer(b"SMTP ready\r\n\r\n") as server:
        with pytest.raises(NoAnswer):
            await client.post(server.url(), HEAD, b"")
    async with RawServer(OK, delay=1.0) as server:
        with pytest.raises(NoAnswer) as slow:
            await client.post(server.url(), HEAD, b"")
    assert isinstance(slow.value.cause, TimeoutError)
    with pytest.raises(NoAnswer):
        await client.post("ftp://127.0.0.1/status", HEAD, b"")
    await client.close()
