"""The SDK's asyncio transport (aiohttp), pointed at `TWILIO_API_BASE` like the synchronous one
in `http.py`. Only the processes that send (the worker) or reconcile import it."""

from __future__ import annotations

from aiohttp import ClientSession
from twilio.http.async_http_client import AsyncTwilioHttpClient

from smsrelay.twilio.http import rewrite


class BaseUrlAsyncHttpClient(AsyncTwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(pool_connections=False, timeout=timeout)
        self.session = ClientSession()  # built here, inside the event loop
        self.base_url = base_url

    async def request(self, method, url, params=None, data=None, headers=None, auth=None,  # type: ignore[override]
                      timeout=None, allow_redirects=False):
        # The SDK hands aiohttp timeout=None explicitly, and aiohttp reads an explicit None as
        # "no timeout at all", overriding any session default: a hung Twilio would hold the
        # worker slot forever. A number becomes a total timeout (connect + send + read), which
        # is what bounds how long Twilio may still be processing a request we gave up on.
        return await super().request(method, rewrite(url, self.base_url), params=params, data=data,
                                     headers=headers, auth=auth, timeout=timeout or self.timeout,
                                     allow_redirects=allow_redirects)
