"""HTTP clients for the official SDK that can point it at another base URL.

The SDK builds https://<product>.twilio.com/... URLs (api for the 2010-04-01 API, pricing for
the Pricing API; with TWILIO_EDGE/TWILIO_REGION set, <product>.<edge>.<region>.twilio.com). The
simulator (and any Twilio-compatible test double) is reached by rewriting that origin here, never
by patching the SDK: api's paths go to the base URL as they are, another product's under
/<product> (https://pricing.twilio.com/v1/... -> <base>/pricing/v1/...).
"""

from __future__ import annotations

import re

from aiohttp import ClientSession
from twilio.http.async_http_client import AsyncTwilioHttpClient

TWILIO_PREFIX = "https://api.twilio.com"
_TWILIO_ORIGIN = re.compile(r"^https://([a-z0-9-]+)(?:\.[a-z0-9-]+)*\.twilio\.com(?=/|$)")


def rewrite(url: str, base_url: str | None) -> str:
    found = _TWILIO_ORIGIN.match(url) if base_url else None
    if found is None:
        return url
    product = found.group(1)
    prefix = base_url.rstrip("/") + ("" if product == "api" else f"/{product}")
    return prefix + url[found.end():]


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
