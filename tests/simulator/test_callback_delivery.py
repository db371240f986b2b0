"""Delivering one callback (WebhookSender) to receivers that answer in each shape HTTP/1.x
allows, or not at all: what goes on the wire, which connections are reused, and what counts as
an answer."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from smsrelay.simulator import callbacks
from smsrelay.simulator.callbacks import WebhookSender
from tests.support.ports import free_port

TOKEN = "callback-delivery-test-token"
PARAMS = {"MessageSid": "SM" + "ab" * 16, "MessageStatus": "sent", "Body": "a b&c"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """Answers every request with `answer` (bytes); records each request's head and body and
    how many connections were opened; closes after answering if asked."""

    def __init__(self, answer: bytes, *, close_after: bool = False, delay: float = 0.0) -> None:
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
                writer.write(self.answer)
                await writer.drain()
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


def sender(*, timeout: float = 5.0, max_attempts: int = 1) -> WebhookSender:
    return WebhookSender(TOKEN, timeout=timeout, max_attempts=max_attempts, retry_base_ms=1)


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}


async def test_callbacks_reuse_one_kept_alive_connection():
    wh = sender()
    async with RawServer(OK) as server:
        for n in range(3):
            d = await wh.post(server.url(), PARAMS, f"token-{n}")
            assert (d.status_code, d.body, d.attempts, d.error) == (200, "ok", 1, None)
    await wh.close()
    assert server.connections == 1
    assert [dict(parse_qsl(b.decode())) for b in server.bodies] == [PARAMS] * 3


async def test_the_url_goes_out_exactly_as_signed_with_its_host():
    # Re-quoting would turn %7E into ~ and %7e into %7E, and the receiver's signature check fail.
    path = "/status?messageId=a%2Fb+c&x=%7E&y=%7e"
    wh = sender()
    async with RawServer(OK) as server:
        d = await wh.post(server.url(path), PARAMS, "tok")
    await wh.close()
    assert d.status_code == 200
    head = server.heads[0]
    assert head.startswith(f"POST {path} HTTP/1.1\r\n".encode())
    h = headers_of(head)
    assert h["host"] == f"127.0.0.1:{server.port}"
    assert h["content-type"] == "application/x-www-form-urlencoded"
    assert h["content-length"] == str(len(server.bodies[0]))
    assert h["i-twilio-idempotency-token"] == "tok"
    assert RequestValidator(TOKEN).validate(server.url(path), dict(parse_qsl(server.bodies[0].decode())),
                                            h["x-twilio-signature"])


async def test_a_chunked_answer_is_read_and_its_connection_reused():
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\n<Re\r\n8;ext=1\r\nsponse/>\r\n0\r\nX-Trailer: 1\r\n\r\n")
    wh = sender()
    async with RawServer(answer) as server:
        for _ in range(2):
            d = await wh.post(server.url(), PARAMS, "tok")
            assert (d.status_code, d.body) == (200, "<Response/>")
    await wh.close()
    assert server.connections == 1


async def test_interim_answers_are_skipped():
    wh = sender()
    async with RawServer(b"HTTP/1.1 100 Continue\r\n\r\n" + OK) as server:
        d = await wh.post(server.url(), PARAMS, "tok")
    await wh.close()
    assert (d.status_code, d.body) == (200, "ok")


async def test_an_http_1_0_answer_read_to_the_close_is_an_answer_and_a_5xx_is_retried():
    wh = sender(max_attempts=2)
    async with RawServer(b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", close_after=True) as server:
        d = await wh.post(server.url(), PARAMS, "tok")
    await wh.close()
    assert (d.status_code, d.body, d.attempts) == (503, "busy", 2)
    assert server.connections == 2


@pytest.mark.parametrize("answer", [
    OK,  # the receiver simply closes the idle connection later
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
])
async def test_a_connection_the_receiver_closed_is_not_reused(answer):
    wh = sender()
    async with RawServer(answer, close_after=True) as server:
        assert (await wh.post(server.url(), PARAMS, "tok")).status_code == 200
        await asyncio.sleep(0.1)  # the receiver's FIN arrives while the connection is idle
        d = await wh.post(server.url(), PARAMS, "tok")
    await wh.close()
    assert (d.status_code, d.attempts) == (200, 1), "answered on a new connection, not a retry"
    assert server.connections == 2


async def no_listener(wh: WebhookSender):
    return await wh.post(f"http://127.0.0.1:{free_port()}/status", PARAMS, "tok")


async def garbage(wh: WebhookSender):
    async with RawServer(b"SMTP ready\r\n\r\n") as server:
        return await wh.post(server.url(), PARAMS, "tok")


async def too_slow(wh: WebhookSender):
    async with RawServer(OK, delay=2.0) as server:
        return await wh.post(server.url(), PARAMS, "tok")


async def not_http(wh: WebhookSender):
    return await wh.post("ftp://127.0.0.1/status", PARAMS, "tok")


@pytest.mark.parametrize("case", [no_listener, garbage, too_slow, not_http])
async def test_no_http_answer_is_not_answered_and_retried(case):
    wh = sender(timeout=0.3, max_attempts=2)
    d = await case(wh)
    await wh.close()
    assert (d.status_code, d.body, d.attempts) == (None, "", 2)
    assert d.error


async def test_a_timeout_changed_at_run_time_applies_to_the_next_callback():
    wh = sender(timeout=0.3)
    async with RawServer(OK, delay=0.6) as server:
        assert (await wh.post(server.url(), PARAMS, "tok")).status_code is None
        wh.timeout = 5.0  # what PATCH /_sim/config does
        assert (await wh.post(server.url(), PARAMS, "tok")).status_code == 200
        wh.timeout = 0.3
        assert (await wh.post(server.url(), PARAMS, "tok")).status_code is None
    await wh.close()


async def test_waiting_for_a_free_connection_does_not_count_against_the_receiver(monkeypatch):
    # One connection: the second callback waits for the first's whole exchange, which with the
    # exchange of its own outlasts the timeout; only the exchanges are the receiver's.
    monkeypatch.setattr(callbacks, "LIMIT", 1)
    wh = sender(timeout=1.0)
    async with RawServer(OK, delay=0.6) as server:
        first, second = await asyncio.gather(*(wh.post(server.url(), PARAMS, f"t{n}") for n in range(2)))
    await wh.close()
    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 1
