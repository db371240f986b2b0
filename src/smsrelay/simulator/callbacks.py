"""Signing and delivering webhooks (status callbacks and inbound messages) as Twilio does.

Signature (X-Twilio-Signature): HMAC-SHA1, keyed with the account's auth token, over the full
URL Twilio requested followed by every POST parameter name and value, sorted by name; the
digest is base64-encoded. `twilio.request_validator.RequestValidator` accepts it.

Every delivery carries an I-Twilio-Idempotency-Token that is stable for one logical callback
(message sid + status), so a retry or a duplicate carries the same token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass

import aiohttp
import yarl

log = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def idempotency_token(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


@dataclass
class Delivery:
    status_code: int | None  # None: no HTTP answer (timeout / connection error)
    body: str
    attempts: int
    token: str
    error: str | None = None

    def as_dict(self) -> dict:
        return {"http_status": self.status_code, "attempts": self.attempts, "token": self.token,
                "error": self.error}


class WebhookSender:
    def __init__(self, auth_token: str, *, timeout: float, max_attempts: int,
                 retry_base_ms: int) -> None:
        self.auth_token = auth_token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_base_ms = retry_base_ms
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # aiohttp, not httpx: under a burst of thousands of queued callbacks httpx's pool
            # spent most of the simulator's CPU re-scanning its queue (a profile at 50 msg/s
            # had the simulator's event loop 98% busy, half of it in httpcore's
            # _assign_requests_to_connections), so the stand-in for Twilio became the
            # bottleneck of the pipeline it was meant to measure.
            # Callbacks queue for one of 100 kept-alive connections rather than open a new one
            # each; waiting for a free one is our time, not the receiver's, so only connecting
            # and reading count against the receiver's timeout.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_connect=self.timeout,
                                              sock_read=self.timeout))
        return self._session

    def headers(self, url: str, params: dict[str, str], token: str) -> dict[str, str]:
        return {
            "X-Twilio-Signature": sign(self.auth_token, url, params),
            "I-Twilio-Idempotency-Token": token,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "*/*",
        }

    async def post(self, url: str, params: dict[str, str], token: str, *,
                   retry: bool = True) -> Delivery:
        """POST a signed form; retry on 5xx, timeouts and connection errors (bounded, backoff)."""
        headers = self.headers(url, params, token)
        attempts = self.max_attempts if retry else 1
        last = Delivery(None, "", 0, token)
        for attempt in range(1, attempts + 1):
            try:
                # encoded=True: sent exactly as signed, never re-quoted.
                async with self._http().post(yarl.URL(url, encoded=True), data=params, headers=headers,
                                             allow_redirects=False) as resp:
                    last = Delivery(resp.status, await resp.text(errors="replace"), attempt, token)
                if last.status_code < 500:
                    return last
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = Delivery(None, "", attempt, token, error=type(exc).__name__)
            if attempt < attempts:
                await asyncio.sleep(self.retry_base_ms / 1000 * 2 ** (attempt - 1))
        log.warning("webhook to %s gave up after %d attempts (%s)", url, last.attempts,
                    last.status_code or last.error)
        return last

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
