"""The simulator's core: accept a message (validation, scenarios, queue), then move it through
Twilio's lifecycle and report it with status callbacks.

Lifecycle: queued (or accepted, via a Messaging Service) -> [sender queue] -> sent ->
delivered | undelivered(ErrorCode); or straight to failed(ErrorCode) when Twilio never hands
the message to a carrier (30001, 30002, 30032, 30034, ...). No callback for the initial status.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass, replace
from functools import lru_cache

from smsrelay.domain import catalogue, phone, segments, smart_encoding
from smsrelay.settings import Settings

from . import channels as sim_channels
from . import prices
from .callbacks import WebhookSender, idempotency_token
from .config import SimConfig
from .resources import API_VERSION, error_message
from .scenarios import ScenarioBook, Traffic
from .state import Message, SimState
from .throughput import Throughput

MAX_BODY = 1600
DEFAULT_SERVICE_SENDER = "+12015550123"


class AnswerLost(Exception):
    """The message was created, but the caller gets an error (or a hang) instead of the 201."""

    def __init__(self, msg: Message, http_status: int, code: int, hang: bool) -> None:
        super().__init__(msg.sid)
        self.msg = msg
        self.http_status = http_status
        self.code = code
        self.hang = hang


class TwilioFault(Exception):
    """A synchronous Twilio API error: HTTP status + Twilio code."""

    def __init__(self, code: int, http_status: int, message: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.http_status = http_status
        self.message = message or error_message(code)


def _final_status(code: int, fallback: str | None) -> str:
    entry = catalogue.lookup(code)
    return (entry.final_status if entry and entry.final_status else fallback) or "undelivered"


def raw_dlr_done_date(ts: float) -> str:
    return _dlr_minute(int(ts // 60))


@lru_cache(maxsize=64)
def _dlr_minute(minute: int) -> str:
    return time.strftime("%y%m%d%H%M", time.gmtime(minute * 60))


@lru_cache(maxsize=4096)
def checked_number(raw: str) -> phone.PhoneCheck:
    # Parsing with phonenumbers is the dearest step of a create, and recipients come back
    # message after message; a PhoneCheck is immutable, so one answer serves them all.
    return phone.check(raw, "US")


sender_kind = lru_cache(maxsize=4096)(phone.sender_kind)


@dataclass
class OutboundRequest:
    to: str | None
    from_: str | None
    body: str | None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    validity_period: str | None = None
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    content_variables: str | None = None


class Engine:
    def __init__(self, settings: Settings, cfg: SimConfig) -> None:
        self.settings = settings
        self.cfg = cfg
        credentials = f"{settings.twilio_account_sid}:{settings.twilio_auth_token}".encode()
        self.expected_authorization = b"Basic " + base64.b64encode(credentials)
        self.state = SimState(settings.twilio_account_sid, cfg.seed, cfg.balance)
        self.scenarios = ScenarioBook()
        self.windows = sim_channels.Windows()
        self.throughput = Throughput(cfg, self._release)
        self.webhooks = WebhookSender(
            settings.twilio_auth_token, timeout=cfg.callback_timeout_seconds,
            max_attempts=cfg.callback_max_attempts, retry_base_ms=cfg.callback_retry_base_ms,
        )
        self._tasks: set[asyncio.Task] = set()
        self._unhang = asyncio.Event()

    # --- account views ---------------------------------------------------------------------
    def account_status(self) -> str:
        if self.state.balance_exhausted or self.scenarios.account_wide("balance_exhausted"):
            return "suspended"
        if self.scenarios.account_wide("account_suspended"):
            return "suspended"
        return "active"

    def balance(self) -> str:
        if self.scenarios.account_wide("balance_exhausted") and not self.state.balance_exhausted:
            return "-0.42"
        return f"{self.state.balance:.5f}"

    def number_view(self, e164: str):
        """A number as the API shows it: sender_number_issue makes it not in-use, not SMS-capable."""
        num = self.state.number(e164)
        if num is None:
            return None
        broken = any(s.number == e164 for s in self.scenarios.named("sender_number_issue"))
        num.status = "inactive" if broken else "in-use"
        num.sms_capable = not broken
        return num

    # --- create ----------------------------------------------------------------------------
    def _suspended_for(self, t: Traffic) -> bool:
        if self.state.balance_exhausted:
            return True
        return any(s.matches(t, self.state.rng) for s in self.scenarios.by_stage("account"))

    def create_message(self, req: OutboundRequest) -> Message:
        if not req.to:
            raise TwilioFault(21604, 400, "A 'To' phone number is required.")
        if not req.from_ and not req.messaging_service_sid:
            raise TwilioFault(21603, 400, "A 'From' phone number is required.")
        if not req.body and not req.media_urls and not req.content_sid:
            raise TwilioFault(21602, 400, "Message body is required.")
        body = req.body or ""
        if len(body) > MAX_BODY:
            raise TwilioFault(21617, 400, "The concatenated message body exceeds the 1600 character limit.")
        if req.body and req.content_variables:  # the template makes the body: Twilio takes one of the two
            raise TwilioFault(35127, 400, "'Messages' Body and ContentVariables cannot be provided together")
        if (refused := sim_channels.refusal(req.to, req.from_, req.media_urls, req.content_sid)) is not None:
            raise TwilioFault(refused[0], 400, refused[1])
        to_check = checked_number(sim_channels.bare(req.to))
        if not to_check.valid:
            raise TwilioFault(21211, 400, f"Invalid 'To' Phone Number: {req.to}")
        to = sim_channels.keep_prefix(req.to, to_check.e164 or req.to)

        sender = req.from_ or self._service_sender()
        kind = sender_kind(sender)
        number = self.state.number(sender) or self.state.add_number(sender, kind)
        t = Traffic(from_=sender, to=to, body=body, to_country=to_check.country, sender_kind=kind,
                    channel=sim_channels.channel(to, len(req.media_urls)))
        rng = self.state.rng

        # Unfiltered auth/api scenarios are applied to every REST request by the app middleware.
        for s in self.scenarios.by_stage("auth"):
            if s.filtered and s.matches(t, rng):
                raise TwilioFault(20003, 401, "Authenticate")
        for s in self.scenarios.by_stage("api"):
            if s.filtered and s.matches(t, rng):
                if s.name == "rate_limited":
                    raise TwilioFault(20429, 429, "Too Many Requests")
                raise TwilioFault(20503, 503, "Service Unavailable")
        counting = [s for s in self.scenarios.by_stage("rate") if s.matches(t, rng)]
        for s in counting:
            if s.over_rate(sender, time.time()):
                s.refuse(time.time())
                raise TwilioFault(s.error_code or 20429, 429, "Too Many Requests")
        if self._suspended_for(t):
            raise TwilioFault(20403, 403, "Account is not active (10001): Permission Denied")

        view = self.number_view(number.phone_number)
        if view is not None and (view.status != "in-use" or not view.sms_capable):
            issue = next((s for s in self.scenarios.named("sender_number_issue")
                          if s.number == sender), None)
            code = issue.error_code if issue else 21606
            raise TwilioFault(code, 400)
        for s in self.scenarios.by_stage("create"):
            if s.name == "opted_out" and not self.state.is_opted_out(sender, to):
                continue
            if s.matches(t, rng):
                raise TwilioFault(s.error_code or 400, s.kind.http_status or 400)

        info = segments.analyse(body)
        if t.channel != "sms":  # Twilio counts an MMS or a WhatsApp message as one
            info = replace(info, segments=1)
        if self.throughput.would_overflow(sender, kind, info.segments):
            raise TwilioFault(21611, 400)
        try:
            validity = int(req.validity_period) if req.validity_period else self.cfg.default_validity_seconds
        except ValueError:
            raise TwilioFault(21624, 400) from None
        if not 1 <= validity <= 36000:
            raise TwilioFault(21624, 400)

        now = time.time()
        via_service = bool(req.messaging_service_sid)
        if via_service and self.cfg.smart_encoding:
            body = smart_encoding.apply(body)
            info = segments.analyse(body)
        msg = Message(
            sid=self.state.new_sid("MM" if req.media_urls else "SM"),
            account_sid=self.state.account_sid, to=to,
            from_=None if via_service and not req.from_ else sender,
            body=body, direction="outbound-api",
            status="accepted" if via_service else "queued",
            num_segments=info.segments, encoding=info.encoding,
            date_created=now, date_updated=now, num_media=len(req.media_urls),
            status_callback=req.status_callback or None,
            messaging_service_sid=req.messaging_service_sid, validity_period=validity,
            to_country=to_check.country, sender=sender, channel=t.channel,
            window_closed=self.windows.closed_for(to, sender, req.content_sid),
            content_sid=req.content_sid, content_variables=req.content_variables,
        )
        msg.history.append((msg.status, now))
        self.state.add_message(msg)
        for s in counting:  # what the rate counts is what Twilio accepted
            s.accepted(sender, now)
        self.throughput.enqueue(sender, kind, msg)
        lost = self.scenarios.first_match("created", t, rng)
        if lost is not None:
            raise AnswerLost(msg, lost.kind.http_status or 502, lost.error_code or 20500,
                             hang=lost.name == "created_then_timeout")
        return msg

    async def hang(self, seconds: float) -> None:
        """A hung request; a reset ends it early, so a test's teardown need not wait it out."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._unhang.wait(), timeout=seconds)

    def _service_sender(self) -> str:
        for num in self.state.numbers.values():
            if num.status == "in-use" and num.sms_capable:
                return num.phone_number
        return DEFAULT_SERVICE_SENDER

    # --- lifecycle -------------------------------------------------------------------------
    async def _release(self, msg: Message, slot: float) -> None:
        """Called by the sender queue when the message's slot comes up."""
        t = Traffic(from_=msg.sender, to=msg.to, body=msg.body, to_country=msg.to_country,
                    sender_kind=sender_kind(msg.sender), channel=msg.channel)
        msg.from_ = msg.sender
        if msg.window_closed:
            self._fail(msg, 63016, "failed", slot)
            return
        if self._suspended_for(t):
            self._fail(msg, 30002, "failed", slot)
            return
        if slot - msg.date_created > msg.validity_period:
            self._fail(msg, 30001, "failed", slot)
            return
        hit = self.scenarios.first_match("delivery", t, self.state.rng)
        if hit is not None:
            code = hit.error_code or 30008
            final = _final_status(code, hit.kind.final_status)
            if final == "failed":
                self._fail(msg, code, "failed", slot)
                return
            self._mark_sent(msg, slot)
            self._spawn(self._finish(msg, "undelivered", code))
            return
        self._mark_sent(msg, slot)
        self._spawn(self._finish(msg, "delivered", None))

    def _mark_sent(self, msg: Message, at: float) -> None:
        msg.date_sent = at
        msg.set_status("sent", at)
        # Charged now; shown on the resource once final (prices.py), as Twilio's price appears late.
        msg.charged = prices.segment_price(msg.to_country, msg.channel) * msg.num_segments
        self.state.charge(msg.charged)

    def _fail(self, msg: Message, code: int, status: str, at: float) -> None:
        msg.error_code = code
        msg.error_message = error_message(code)
        msg.set_status(status, at)
        msg.price = f"-{msg.charged:.5f}" if msg.charged else "0.00000"
        self._spawn(self._report(msg, [self._callback_params(msg, status, code, at)]))

    async def _finish(self, msg: Message, final: str, code: int | None) -> None:
        sent = self._callback_params(msg, "sent", None, msg.date_sent or time.time())
        mode = self.cfg.callback_mode
        if mode != "out_of_order":
            await self._report(msg, [sent])
        await asyncio.sleep(self.cfg.callback_latency_ms / 1000)
        now = time.time()
        if code is not None:
            msg.error_code = code
            msg.error_message = error_message(code)
        msg.set_status(final, now)
        msg.price = f"-{msg.charged:.5f}"
        done = self._callback_params(msg, final, code, now)
        await self._report(msg, [done, sent] if mode == "out_of_order" else [done])
        if final == "delivered" and msg.channel == "whatsapp":  # the person opens it
            await asyncio.sleep(self.cfg.callback_latency_ms / 1000)
            msg.set_status("read")
            await self._report(msg, [self._callback_params(msg, "read", None, time.time())])

    def _callback_params(self, msg: Message, status: str, code: int | None, at: float) -> dict[str, str]:
        p = {
            "AccountSid": msg.account_sid,
            "ApiVersion": API_VERSION,
            "From": msg.from_ or msg.sender,
            "MessageSid": msg.sid,
            "MessageStatus": status,
            "SmsSid": msg.sid,
            "SmsStatus": status,
            "To": msg.to,
        }
        if code is not None:
            p["ErrorCode"] = str(code)
        if status in ("delivered", "undelivered"):
            p["RawDlrDoneDate"] = raw_dlr_done_date(at)
        if msg.messaging_service_sid:
            p["MessagingServiceSid"] = msg.messaging_service_sid
        return p

    async def _report(self, msg: Message, batch: list[dict[str, str]]) -> None:
        if not msg.status_callback:
            return
        copies = 2 if self.cfg.callback_mode == "duplicate" else 1
        for params in batch:
            token = idempotency_token(msg.sid, params["MessageStatus"])
            for _ in range(copies):
                d = await self.webhooks.post(msg.status_callback, params, token)
                msg.callbacks.append({"status": params["MessageStatus"], "at": time.time(), **d.as_dict()})

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- inbound ---------------------------------------------------------------------------
    async def send_inbound(self, from_: str, to: str, body: str) -> dict:
        """Post a signed inbound-SMS webhook to the To number's SmsUrl (or SIM_INBOUND_URL)."""
        from_check, to_check = phone.check(from_, "US"), phone.check(to, "US")
        from_e164 = from_check.e164 or from_
        to_e164 = to_check.e164 or to
        number = self.state.number(to_e164) or self.state.add_number(to_e164, phone.sender_kind(to_e164))
        url = number.sms_url or self.cfg.inbound_url
        info = segments.analyse(body)
        now = time.time()
        sid = self.state.new_sid("SM")
        params = {
            "AccountSid": self.state.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_e164,
            "FromCity": "", "FromCountry": from_check.country or "", "FromState": "", "FromZip": "",
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(info.segments),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to_e164,
            "ToCity": "", "ToCountry": to_check.country or "", "ToState": "", "ToZip": "",
        }
        keyword = self.state.record_keyword(from_e164, to_e164, body)
        msg = Message(
            sid=sid, account_sid=self.state.account_sid, to=to_e164, from_=from_e164, body=body,
            direction="inbound", status="received", num_segments=info.segments,
            encoding=info.encoding, date_created=now, date_updated=now, date_sent=now,
            to_country=to_check.country, sender=from_e164,
        )
        msg.history.append(("received", now))
        self.state.add_message(msg)
        self.windows.inbound(from_e164, to_e164, now)
        d = await self.webhooks.post(url, params, idempotency_token(sid, "inbound"), retry=False)
        msg.callbacks.append({"status": "inbound", "at": time.time(), **d.as_dict()})
        return {"message_sid": sid, "url": url, "status": d.status_code, "body": d.body,
                "error": d.error, "keyword": keyword, "params": params}

    # --- housekeeping ----------------------------------------------------------------------
    async def reset(self) -> None:
        self._unhang.set()
        self._unhang = asyncio.Event()
        await self.throughput.close()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self._tasks.clear()
        self.scenarios.clear()
        self.windows.clear()
        self.state.reset()

    async def close(self) -> None:
        await self.reset()
        await self.webhooks.close()
