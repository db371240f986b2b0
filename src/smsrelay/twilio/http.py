"""HTTP clients for the official SDK that can point it at another base URL.

The SDK builds https://<product>.twilio.com/... URLs (api for the 2010-04-01 API, pricing for
the Pricing API; with TWILIO_EDGE/TWILIO_REGION set, <product>.<edge>.<region>.twilio.com). The
simulator (and any Twilio-compatible test double) is reached by rewriting that origin here, never
by patching the SDK: api's paths go to the base URL as they are, another product's under
/<product> (https://pricing.twilio.com/v1/... -> <base>/pricing/v1/...).

The SDK's synchronous transport (requests) lives here; its asyncio one (aiohttp) in
`http_async.py`, so that a process which only asks Twilio a question or two, an operator's
`smsrelay incident diagnose`, never imports aiohttp (a tenth of a second or more of CPU).
"""

from __future__ import annotations

import re

from twilio.http.http_client import TwilioHttpClient

TWILIO_PREFIX = "https://api.twilio.com"
_TWILIO_ORIGIN = re.compile(r"^https://([a-z0-9-]+)(?:\.[a-z0-9-]+)*\.twilio\.com(?=/|$)")


def rewrite(url: str, base_url: str | None) -> str:
    found = _TWILIO_ORIGIN.match(url) if base_url else None
    if found is None:
        return url
    product = found.group(1)
    prefix = base_url.rstrip("/") + ("" if product == "api" else f"/{product}")
    return prefix + url[found.end():]


class BaseUrlHttpClient(TwilioHttpClient):
    def __init__(self, base_url: str | None, timeout: float):
        # `timeout` bounds the connection and each read (requests has no total timeout): the
        # callers that must answer on time run it on a thread they can stop waiting for.
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url

    def request(self, method, url, params=None, data=None, headers=None, auth=None,  # type: ignore[override]
                timeout=None, allow_redirects=False):
        return super().request(method, rewrite(url, self.base_url), params=params, data=data, headers=headers,
                               auth=auth, timeout=timeout or self.timeout, allow_redirects=allow_redirects)
