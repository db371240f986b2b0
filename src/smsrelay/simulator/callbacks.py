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

from .webhook_http import NoAnswer, WebhookClient

log = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"


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
    def __init__(self, auth_token: str, *, timeout: float, max_attempts: int,
                 retry_base_ms: int) -> None:
        self.auth_token = auth_token
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.retry_base_ms = retry_base_ms
        self._sign = Signer(auth_token)
        self._client: WebhookClient | None = None

    def _http(self) -> WebhookClient:
        if self._client is None:
            # Callbacks queue for one of 100 kept-alive connections rather than open a new one
            # each. Built on first use: its semaphore belongs to the running event loop.
            self._client = WebhookClient(limit=100, timeout=self.timeout)
        self._client.timeout = self.timeout
        return self._client

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
        head = "".join(f"{k}: {v}\r\n" for k, v in self.headers(url, params, token).items())
        body = form_encode(params).encode()
        attempts = self.max_attempts if retry else 1
        last = Delivery(None, "", 0, token)
        for attempt in range(1, attempts + 1):
            try:
                status, answer = await self._http().post(url, head, body)
                last = Delivery(status, answer.decode(errors="replace"), attempt, token)
                if status < 500:
                    return last
            except NoAnswer as exc:
                last = Delivery(None, "", attempt, token, error=type(exc.cause).__name__)
            if attempt < attempts:
                await asyncio.sleep(self.retry_base_ms / 1000 * 2 ** (attempt - 1))
        log.warning("webhook to %s gave up after %d attempts (%s)", url, last.attempts,
                    last.status_code or last.error)
        return last

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
