"""HTTP clients for the official SDK that can point it at another base URL.

The SDK always builds https://api.twilio.com/... URLs; the simulator (and any Twilio-compatible
test double) is reached by rewriting that prefix here, never by patching the SDK.

The SDK's synchronous transport (requests) lives here; its asyncio one (aiohttp) in
`http_async.py`, so that a process which only asks Twilio a question or two, an operator's
`smsrelay incident diagnose`, never imports aiohttp (a tenth of a second or more of CPU).
"""

from __future__ import annotations

from twilio.http.http_client import TwilioHttpClient

TWILIO_PREFIX = "https://api.twilio.com"


def rewrite(url: str, base_url: str | None) -> str:
    if base_url and url.startswith(TWILIO_PREFIX):
        return base_url + url[len(TWILIO_PREFIX):]
    return url


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
