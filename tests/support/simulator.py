"""The simulator as the tests reach it: the official SDK's transports pointed at the simulator
instead of api.twilio.com, fast test timings, and a receiver that collects the webhooks the
simulator posts."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient

from smsrelay.twilio.http import rewrite
from tests.support.ports import free_port

TWILIO_BASE = "https://api.twilio.com"

# Fast timings for tests; the defaults are Twilio-like.
TEST_CONFIG = dict(
    seed=1234,
    callback_latency_ms=50,
    callback_retry_base_ms=50,
    callback_timeout_seconds=1.0,
    callback_max_attempts=3,
    outage_hang_seconds=1.5,
    speed_long_code=50.0,  # tests that measure throughput set realistic speeds themselves
    speed_toll_free=50.0,
    speed_short_code=100.0,
)


class SimHttpClient(TwilioHttpClient):
    """The official sync transport, pointed at the simulator instead of *.twilio.com (the adapter's own rewrite)."""

    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        return super().request(method, rewrite(url, self.base_url), *args, **kwargs)


class AsyncSimHttpClient(AsyncTwilioHttpClient):
    def __init__(self, base_url: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    async def request(self, method, url, *args, **kwargs):
        return await super().request(method, rewrite(url, self.base_url), *args, **kwargs)


@dataclass
class Hit:
    path: str
    url: str
    headers: dict[str, str]
    params: dict[str, str]


class Receiver:
    """Collects webhooks. Paths: /status (200), /flaky/N (503 for the first N tries of each
    idempotency token), /slow (sleeps past the simulator's timeout once per token),
    /inbound (TwiML)."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.tries: dict[str, int] = defaultdict(int)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                params = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                hit = Hit(self.path.split("?")[0], receiver.base + self.path, headers, params)
                token = headers.get("i-twilio-idempotency-token", "")
                with receiver.lock:
                    receiver.hits.append(hit)
                    receiver.tries[self.path + token] += 1
                    tries = receiver.tries[self.path + token]
                code, body, ctype = 200, "", "text/plain"
                if hit.path.startswith("/flaky/"):
                    if tries <= int(hit.path.rsplit("/", 1)[1]):
                        code = 503
                elif hit.path == "/slow" and tries == 1:
                    time.sleep(1.3)
                elif hit.path == "/inbound":
                    ctype = "application/xml"
                    body = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>got: '
                            f"{params.get('Body', '')}</Message></Response>")
                data = body.encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def for_sid(self, sid: str) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.params.get("MessageSid") == sid]

    def clear(self) -> None:
        with self.lock:
            self.hits.clear()
            self.tries.clear()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
