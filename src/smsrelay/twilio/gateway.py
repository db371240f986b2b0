"""Send, fetch and inspect through the official SDK; every failure comes out as one of the
outcomes in `smsrelay.twilio.errors`.

Sends, fetches and lists go through the SDK's asyncio transport (aiohttp, imported when first
used). The account checks also have a blocking form on the synchronous transport
(`*_blocking`), for a process that asks Twilio only those: `incident diagnose` runs them on
threads and so never imports aiohttp."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import twilio.rest.api.v2010.account  # noqa: F401 - every call below goes through it: imported with the gateway
from twilio.rest import Client

from smsrelay.twilio.errors import (  # noqa: F401 - re-exported: the adapter's vocabulary
    Ambiguous, Refused, SendFailed, TwilioError, Unavailable, classify_rest_error, translated, translated_sync,
)
from smsrelay.twilio.http import BaseUrlHttpClient

if TYPE_CHECKING:
    from smsrelay.twilio.http_async import BaseUrlAsyncHttpClient


@dataclass(frozen=True)
class Sent:
    sid: str
    status: str


class TwilioGateway:
    def __init__(self, account_sid: str, auth_token: str, base_url: str | None, timeout: float = 10.0):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = base_url
        self.timeout = timeout
        self._async_http: BaseUrlAsyncHttpClient | None = None
        self._client: Client | None = None
        self._sync_client: Client | None = None

    @classmethod
    def from_settings(cls, settings) -> "TwilioGateway":
        return cls(settings.twilio_account_sid, settings.twilio_auth_token,
                   settings.twilio_base_url, settings.twilio_timeout_seconds)

    def _async_client(self) -> Client:
        # aiohttp sessions belong to an event loop, so the client is built lazily inside it.
        if self._client is None:
            from smsrelay.twilio.http_async import BaseUrlAsyncHttpClient

            self._async_http = BaseUrlAsyncHttpClient(self.base_url, self.timeout)
            self._client = Client(self.account_sid, self.auth_token, http_client=self._async_http)
        return self._client

    def _blocking_client(self) -> Client:
        # One requests session, shared by the threads of one diagnosis (requests' Session is
        # used from several threads by the SDK itself; its pool is thread-safe).
        if self._sync_client is None:
            self._sync_client = Client(self.account_sid, self.auth_token,
                                       http_client=BaseUrlHttpClient(self.base_url, self.timeout))
        return self._sync_client

    async def close(self) -> None:
        if self._async_http is not None:
            await self._async_http.close()
        self._async_http = None
        self._client = None
        if self._sync_client is not None and self._sync_client.http_client.session is not None:
            self._sync_client.http_client.session.close()
        self._sync_client = None

    async def send(self, *, to: str, body: str, status_callback: str, from_: str | None = None,
                   messaging_service_sid: str | None = None, validity_period: int | None = None,
                   media_urls: list[str] | None = None, content_sid: str | None = None,
                   content_variables: str | None = None) -> Sent:
        params: dict[str, Any] = {"to": to, "status_callback": status_callback}
        # A content template makes its own text: Twilio refuses a Body beside its ContentVariables
        # (35127), so the rendered copy we store for the record is not sent with it.
        if not content_sid and (body or not media_urls):
            params["body"] = body
        if media_urls:
            params["media_url"] = list(media_urls)  # the SDK sends one MediaUrl per item
        if content_sid:
            params["content_sid"] = content_sid
            if content_variables:
                params["content_variables"] = content_variables
        if messaging_service_sid:
            params["messaging_service_sid"] = messaging_service_sid
        else:
            params["from_"] = from_
        if validity_period:
            params["validity_period"] = validity_period
        # An Ambiguous failure may have created the message: callers must ask Twilio before
        # sending again, never blindly resend.
        msg = await translated(self._async_client().messages.create_async(**params))
        return Sent(sid=msg.sid, status=msg.status)

    async def find_messages(self, *, to: str, from_: str | None, created_after: datetime,
                            created_before: datetime | None = None,
                            messaging_service_sid: str | None = None) -> list[dict[str, Any]]:
        """Messages Twilio holds for this To and sender created in a window: how a crashed send
        is reconciled. Twilio's list filters only on To, From and DateSent (empty while queued),
        so a Messaging Service's messages are listed by To and kept by their service sid, never
        the whole account's; the window is applied to DateCreated here."""
        params: dict[str, Any] = {"to": to, "limit": 200}
        if not messaging_service_sid:
            params["from_"] = from_
        found = await translated(self._async_client().messages.list_async(**params))
        return [_message_dict(m) for m in found
                if (not messaging_service_sid or m.messaging_service_sid == messaging_service_sid)
                and (m.date_created is None or (m.date_created >= created_after
                                                and (created_before is None or m.date_created <= created_before)))]

    async def fetch_message(self, sid: str) -> dict[str, Any]:
        m = await translated(self._async_client().messages(sid).fetch_async())
        return _message_dict(m)

    async def balance(self) -> dict[str, Any]:
        return _balance(await translated(self._async_client().api.v2010.accounts(self.account_sid).balance.fetch_async()))

    async def account(self) -> dict[str, Any]:
        return _account(await translated(self._async_client().api.v2010.accounts(self.account_sid).fetch_async()))

    async def message_prices(self, sids: list[str], concurrency: int = 8) -> dict[str, dict[str, Any]]:
        """Twilio's price of each message: {sid: {status, price, price_unit}}; Twilio has no
        fetch by many sids, so a batch is fetched a few at a time. A sid Twilio could not answer
        for is left out (the caller asks again next round)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(sid: str):
            async with gate:
                try:
                    m = await translated(self._async_client().messages(sid).fetch_async())
                except TwilioError:
                    return None
                return sid, {"status": m.status, "price": m.price, "price_unit": m.price_unit}

        return dict(r for r in await asyncio.gather(*(one(s) for s in sids)) if r is not None)

    async def destination_price(self, iso_country: str) -> dict[str, Any]:
        """The Pricing API's outbound SMS price per segment to a country: the dearest carrier's
        current price, so an estimate never undercounts."""
        c = await translated(self._async_client().pricing.v1.messaging.countries(iso_country).fetch_async())
        prices = [Decimal(str(p["current_price"])) for carrier in (c.outbound_sms_prices or [])
                  for p in carrier.get("prices", []) if p.get("current_price") is not None]
        return {"isoCountry": c.iso_country, "price": max(prices) if prices else None,
                "priceUnit": (c.price_unit or "USD").upper()}

    async def usage_records(self, category: str, start: date, end: date) -> list[dict[str, Any]]:
        """Twilio's daily usage records of one category: count (messages), usage (segments), price."""
        found = await translated(self._async_client().usage.records.daily.list_async(
            category=category, start_date=start, end_date=end))
        return [{"day": r.start_date, "category": r.category, "count": int(r.count or 0), "usage": int(r.usage or 0),
                 "price": Decimal(str(r.price or 0)), "priceUnit": (r.price_unit or "usd").upper()} for r in found]

    async def numbers(self, phone_number: str | None = None) -> list[dict[str, Any]]:
        kwargs = {"phone_number": phone_number} if phone_number else {}
        return _numbers(await translated(self._async_client().incoming_phone_numbers.list_async(**kwargs)))

    def balance_blocking(self) -> dict[str, Any]:
        return _balance(translated_sync(self._blocking_client().api.v2010.accounts(self.account_sid).balance.fetch))

    def account_blocking(self) -> dict[str, Any]:
        return _account(translated_sync(self._blocking_client().api.v2010.accounts(self.account_sid).fetch))

    def numbers_blocking(self, phone_number: str | None = None) -> list[dict[str, Any]]:
        kwargs = {"phone_number": phone_number} if phone_number else {}
        return _numbers(translated_sync(lambda: self._blocking_client().incoming_phone_numbers.list(**kwargs)))


def _balance(b: Any) -> dict[str, Any]:
    return {"balance": b.balance, "currency": b.currency}


def _account(a: Any) -> dict[str, Any]:
    return {"sid": a.sid, "status": a.status, "friendly_name": a.friendly_name, "type": a.type}


def _numbers(found: Any) -> list[dict[str, Any]]:
    return [{"sid": n.sid, "phone_number": n.phone_number, "status": n.status,
             "capabilities": n.capabilities, "sms_url": n.sms_url} for n in found]


def _message_dict(m: Any) -> dict[str, Any]:
    return {"sid": m.sid, "status": m.status, "to": m.to, "from": m.from_, "body": m.body,
            "error_code": m.error_code, "error_message": m.error_message,
            "date_created": m.date_created, "date_sent": m.date_sent,
            "messaging_service_sid": m.messaging_service_sid, "num_segments": m.num_segments,
            "price": m.price, "price_unit": m.price_unit}
