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
from functools import lru_cache
from urllib.parse import quote_plus

import aiohttp
import yarl

log = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"
LIMIT = 100  # connections kept alive to receivers, and callbacks in flight
KEEPALIVE_SECONDS = 30.0


class Signer:
    """X-Twilio-Signature for one auth token; the key's HMAC state is computed once, not per
    callback."""

    def __init__(self, auth_token: str) -> None:
        self._keyed = hmac.new(auth_token.encode(), digestmod=hashlib.sha1)

    def __call__(self, url: str, params: dict[str, str]) -> str:
        mac = self._keyed.copy()
        mac.update((url + "".join(f"{k}{params[k]}" for k in sorted(params))).encode())
        return base64.b64encode(mac.digest()).decode()


# Names, statuses, sids and numbers recur from callback to callback; quoting is what urlencode()
# spends its time on.
_quoted = lru_cache(maxsize=8192)(quote_plus)


def form_encode(params: dict[str, str]) -> str:
    """urlencode(params) for string values."""
    return "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in params.items())


def idempotency_token(*parts: str) -> str:
    """str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts))), without building a UUID object."""
    digest = bytearray(hashlib.sha1(_URL_NAMESPACE + "/".join(parts).encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


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
    """One aiohttp session for the simulator's life: every callback reuses its keep-alive
    connections, and each request carries its own total timeout (a changed
    callback_timeout_seconds applies to the next callback)."""

    def __init__(self, auth_token: str, *, timeout: float, max_attempts: int,
                 retry_base_ms: int) -> None:
        self.auth_token = auth_token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_base_ms = retry_base_ms
        self._sign = Signer(auth_token)
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def timeout(self) -> float:
        return self._timeout.total

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        # Always a ClientTimeout: aiohttp reads a bare None as "no timeout at all", and a
        # receiver that never answers would then hold a connection forever.
        self._timeout = aiohttp.ClientTimeout(total=seconds)

    def _http(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None:
            # Built on first use: the session and the semaphore belong to the running loop.
            # Callbacks queue for one of LIMIT kept-alive connections rather than open a new
            # one each. They queue on the semaphore, outside the request, because aiohttp's
            # total timeout would count the wait for a pooled connection against the receiver.
            # No cookie jar: Twilio sends no cookies back, and filtering them costs every request.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=LIMIT, keepalive_timeout=KEEPALIVE_SECONDS),
                cookie_jar=aiohttp.DummyCookieJar())
            self._slots = asyncio.Semaphore(LIMIT)
        return self._session, self._slots

    def headers(self, url: str, params: dict[str, str], token: str) -> dict[str, str]:
        return {
            "X-Twilio-Signature": self._sign(url, params),
            "I-Twilio-Idempotency-Token": token,
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "*/*",
        }

    async def post(self, url: str, params: dict[str, str], token: str, *,
                   retry: bool = True) -> Delivery:
        """POST a signed form; retry on 5xx, timeouts and connection errors (bounded, backoff)."""
        headers = self.headers(url, params, token)
        body = form_encode(params).encode()
        attempts = self.max_attempts if retry else 1
        last = Delivery(None, "", 0, token)
        for attempt in range(1, attempts + 1):
            try:
                status, answer = await self._exchange(url, headers, body)
                last = Delivery(status, answer.decode(errors="replace"), attempt, token)
                if status < 500:
                    return last
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                last = Delivery(None, "", attempt, token, error=type(exc).__name__)
            if attempt < attempts:
                await asyncio.sleep(self.retry_base_ms / 1000 * 2 ** (attempt - 1))
        log.warning("webhook to %s gave up after %d attempts (%s)", url, last.attempts,
                    last.status_code or last.error)
        return last

    async def _exchange(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        session, slots = self._http()
        async with slots:
            async with session.post(_target(url), data=body, headers=headers,
                                    allow_redirects=False, timeout=self._timeout) as resp:
                return resp.status, await resp.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = self._slots = None


@lru_cache(maxsize=4096)  # a message's callbacks all go to its one URL
def _target(url: str) -> yarl.URL:
    # encoded=True: sent exactly as signed, never re-quoted.
    return yarl.URL(url, encoded=True)
