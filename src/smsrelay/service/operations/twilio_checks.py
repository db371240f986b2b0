"""What the diagnosis asks Twilio (the runbook's console and `twilio` CLI steps): balance,
account status and the status of the senders that fail, through the SDK's blocking transport
on daemon threads.

Threads rather than the SDK's asyncio transport: these are the only Twilio calls an operator's
`smsrelay incident diagnose` makes, and aiohttp's import alone would cost it more than the calls
(issue 19: under 1 s, start-up included). Daemon threads rather than asyncio's executor: a
Twilio that does not answer must delay neither the diagnosis (it has its own budget) nor the
command's exit, which waits for the executor's threads.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from smsrelay.domain import diagnosis
from smsrelay.service.runtime import Runtime

T = TypeVar("T")

# Live checks share one budget so a hanging Twilio cannot make a command slow: its silence is
# itself evidence of an outage.
TWILIO_CHECK_SECONDS = 1.0
MAX_NUMBER_CHECKS = 5


def on_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """fn(*args) on a daemon thread, as a future of the running loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if done.done():  # given up on
            return
        if exc is None:
            done.set_result(result)
        else:
            done.set_exception(exc)

    def run() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (fn(*args), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name=f"twilio {getattr(fn, '__name__', 'call')}", daemon=True).start()
    return done


def senders_to_check(failures: tuple[diagnosis.Failure, ...]) -> list[str]:
    counts: dict[str, int] = {}
    for f in failures:
        if f.sender and diagnosis.cause_of(f) in ("sender_number", "account", "none", "content_filtering"):
            counts[f.sender] = counts.get(f.sender, 0) + f.count
    return [s for s, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_NUMBER_CHECKS]]


async def twilio_checks(rt: Runtime, failures: Awaitable[tuple[diagnosis.Failure, ...]]) -> diagnosis.TwilioChecks:
    """Balance and account are asked at once; the numbers as soon as the failures name them."""
    from smsrelay.twilio.errors import Ambiguous, TwilioError  # the SDK loads only when Twilio is asked

    gw = rt.gateway
    senders: list[str] = []

    async def account_checks() -> tuple[Any, ...]:
        return tuple(await asyncio.wait_for(asyncio.gather(on_thread(gw.balance_blocking),
                                                           on_thread(gw.account_blocking)), TWILIO_CHECK_SECONDS))

    async def number_checks() -> list[Any]:
        senders.extend(senders_to_check(await failures))  # our database: not on Twilio's clock
        return list(await asyncio.wait_for(asyncio.gather(*(on_thread(gw.numbers_blocking, s) for s in senders)),
                                           TWILIO_CHECK_SECONDS))

    try:
        (balance, account), numbers_found = await asyncio.gather(account_checks(), number_checks())
    except asyncio.TimeoutError:
        return diagnosis.TwilioChecks(timed_out=True)
    except Ambiguous as exc:
        if exc.timed_out:
            return diagnosis.TwilioChecks(timed_out=True)
        return diagnosis.TwilioChecks(error_code=exc.code, error_http_status=exc.http_status, error_message=exc.message)
    except TwilioError as exc:
        return diagnosis.TwilioChecks(error_code=exc.code, error_http_status=exc.http_status, error_message=exc.message)
    except Exception as exc:  # noqa: BLE001 - any failure to reach Twilio is evidence, not a crash
        return diagnosis.TwilioChecks(error_message=f"{type(exc).__name__}: {exc}")
    checks = []
    for sender, found in zip(senders, numbers_found):
        match = next((n for n in found if n["phone_number"] == sender), None)
        checks.append(diagnosis.NumberCheck(sender, match is not None, match and match["status"],
                                            None if match is None else bool((match["capabilities"] or {}).get("sms"))))
    return diagnosis.TwilioChecks(balance=_decimal(balance["balance"]), currency=balance["currency"],
                                  account_status=account["status"], numbers=tuple(checks))


def _decimal(value: Any) -> float | None:
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, TypeError, ValueError):
        return None
