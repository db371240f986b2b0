"""A purpose-built Twilio-compatible server for what the simulator cannot stage: it answers the
SDK's message fetch with a status chosen per sid (default `sent`, as for carriers that never
send delivery reports), counts the fetches, can cut the connection for chosen sids (a network
error on one message), and can hang every request until the test releases it."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from email.utils import formatdate

from tests.support.servers import ThreadedServer

_FETCH = re.compile(r"^/2010-04-01/Accounts/(?P<account>\w+)/Messages/(?P<sid>\w+)\.json$")
_BALANCE = re.compile(r"^/2010-04-01/Accounts/(?P<account>\w+)/Balance\.json$")


class TwilioDouble:
    def __init__(self, *, hang: bool = False):
        self.statuses: dict[str, str] = {}
        self.cut: set[str] = set()
        self.fetches: Counter[str] = Counter()
        self.hang = hang
        self.hung = 0
        self.released = threading.Event()
        async def app(scope, receive, send) -> None:
            await self._app(scope, receive, send)

        self.server = ThreadedServer(app)

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> "TwilioDouble":
        self.server.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.stop()

    async def _app(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if m := _FETCH.match(path):
            self.fetches[m["sid"]] += 1
        if self.hang:
            self.hung += 1
            while not self.released.is_set():
                await asyncio.sleep(0.05)
        if m := _FETCH.match(path):
            sid = m["sid"]
            if sid in self.cut:
                # Headers promise a body that never comes: the client sees the connection drop.
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
                raise ConnectionAbortedError(f"cut {sid}")
            now = formatdate(usegmt=True)
            body = {"sid": sid, "account_sid": m["account"], "status": self.statuses.get(sid, "sent"),
                    "to": "+14155552671", "from": "+15017122661", "body": "hello", "num_segments": "1",
                    "direction": "outbound-api", "error_code": None, "error_message": None,
                    "date_created": now, "date_sent": now, "date_updated": now, "price": None, "uri": path}
            status = 200
        elif m := _BALANCE.match(path):
            body, status = {"account_sid": m["account"], "balance": "100.00", "currency": "USD"}, 200
        else:
            body, status = {"code": 20404, "message": "not found", "status": 404}, 404
        data = json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})
