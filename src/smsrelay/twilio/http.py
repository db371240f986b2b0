"""HTTP clients for the official SDK that can point it at another base URL.

The SDK always builds https://api.twilio.com/... URLs; the simulator (and any Twilio-compatible
test double) is reached by rewriting that prefix here, never by patching the SDK.
"""

from __future__ import annotations

from aiohttp import ClientSession, ClientTimeout
from twilio.http.async_http_client import AsyncTwilioHttpClient

TWILIO_PREFIX = "https://api.twilio.com"


def rewrite(url: str, base_url: str | None) -> str:
    if base_url and url.startswith(TWILIO_PREFIX):
        return base_url + url[len(TWILIO_PREFIX):]
    return url


class BaseUrlAsyncHttpClient(AsyncTwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(pool_connections=False)
        # A total timeout bounds connect + read together, so a hung Twilio (or a simulated
        # outage) can never hold a worker slot forever. Built here, inside the event loop.
        self.session = ClientSession(timeout=ClientTimeout(total=timeout))
        self.base_url = base_url

    async def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        return await super().request(method, rewrite(url, self.base_url), *args, **kwargs)
