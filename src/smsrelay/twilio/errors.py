"""What a failed Twilio call tells us, in three outcomes the callers can act on.

- `Refused`: Twilio answered with one of its error codes (a 4xx): nothing was done. Whether a
  later try may work depends on the code (the domain's catalogue).
- `Ambiguous`: the request left and no answer proves what happened (a timeout, a connection
  reset after sending, a 5xx from an edge, a 4xx without a Twilio code). A create may have
  worked: ask Twilio before sending again.
- `Unavailable`: Twilio could not be reached at all (refused connection, DNS, TLS, connect
  timeout): the request never left, so trying again is safe.

Every SDK and transport exception is translated here, so nothing outside this package needs to
know the SDK's or aiohttp's exception types.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from twilio.base.exceptions import TwilioException, TwilioRestException

from smsrelay.domain import catalogue

T = TypeVar("T")


class TwilioError(Exception):
    """A Twilio call that did not succeed. `retryable`: trying later may work; `definite`: the
    failure proves Twilio did nothing with the request."""

    definite = False

    def __init__(self, code: int | None, message: str, *, http_status: int | None, retryable: bool):
        super().__init__(f"{code or http_status or 'network'}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retryable = retryable


class Refused(TwilioError):
    definite = True


class Ambiguous(TwilioError):
    def __init__(self, code: int | None, message: str, *, http_status: int | None, retryable: bool = True,
                 timed_out: bool = False):
        super().__init__(code, message, http_status=http_status, retryable=retryable)
        self.timed_out = timed_out


class Unavailable(TwilioError):
    definite = True

    def __init__(self, message: str):
        super().__init__(None, message, http_status=None, retryable=True)


# The name the callers used before the outcomes were told apart.
SendFailed = TwilioError


def classify_rest_error(exc: TwilioRestException) -> TwilioError:
    return _answered(exc.status, exc.code, exc.msg)


def _answered(status: int, code: int | None, message: str) -> TwilioError:
    if code is not None and catalogue.lookup(code) is not None:
        retryable = catalogue.is_retryable(code)
    else:
        # Unknown codes: a server-side failure may pass, a client error will not.
        retryable = status >= 500 or status == 429
    # Only Twilio itself answers a 4xx with one of its codes; a 5xx (or a bare status) may come
    # from an edge in front of a request that Twilio went on to carry out.
    if status < 500 and code is not None:
        return Refused(code, message, http_status=status, retryable=retryable)
    return Ambiguous(code, message, http_status=status, retryable=retryable)


def _page_error(exc: TwilioException) -> TwilioError | None:
    """A list call's error page: the SDK raises a bare TwilioException carrying the response."""
    response = exc.args[1] if len(exc.args) > 1 else None
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        return None
    try:
        body = json.loads(response.text)
    except (TypeError, ValueError):
        body = {}
    code = body.get("code") if isinstance(body, dict) else None
    message = (body.get("message") if isinstance(body, dict) else None) or str(exc.args[0])
    return _answered(status, code if isinstance(code, int) else None, message)


def classify(exc: BaseException) -> TwilioError | None:
    """Our outcome for an exception raised by a Twilio call, or None if it is not Twilio's."""
    if isinstance(exc, TwilioRestException):
        return classify_rest_error(exc)
    if isinstance(exc, TwilioException) and (page := _page_error(exc)) is not None:
        return page
    # Either transport's exceptions, if it is loaded: an exception cannot come from one that is not.
    aiohttp, requests = sys.modules.get("aiohttp"), sys.modules.get("requests")
    if aiohttp is not None and isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return Unavailable(f"cannot reach Twilio: {type(exc).__name__}: {exc}")
    if requests is not None and _never_connected(exc, requests):
        return Unavailable(f"cannot reach Twilio: {type(exc).__name__}: {exc}")
    if isinstance(exc, asyncio.TimeoutError) or (requests is not None and isinstance(exc, requests.exceptions.ReadTimeout)):
        return Ambiguous(None, f"no answer in time: {type(exc).__name__}", http_status=None, timed_out=True)
    if isinstance(exc, (OSError, TwilioException, ValueError)) or (aiohttp is not None and isinstance(exc, aiohttp.ClientError)):
        # The request may have reached Twilio (a reset, a truncated or unreadable answer).
        return Ambiguous(None, f"network error: {type(exc).__name__}: {exc}", http_status=None)
    return None


def _never_connected(exc: BaseException, requests) -> bool:
    """requests' "the connection was never made" (connect timeout, refused, DNS): its
    ConnectionError also covers a reset after the request went out, which is not this."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(exc, requests.exceptions.ReadTimeout):
        return False
    from urllib3.exceptions import MaxRetryError, NewConnectionError  # DNS failures are one too

    cause = exc.args[0] if exc.args else None
    reason = cause.reason if isinstance(cause, MaxRetryError) else cause
    return isinstance(reason, NewConnectionError)


def translated_sync(call: Callable[[], T]) -> T:
    """`translated` for the SDK's synchronous transport."""
    try:
        return call()
    except Exception as exc:
        ours = classify(exc)
        if ours is None:
            raise
        raise ours from exc


async def translated(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception as exc:
        ours = classify(exc)
        if ours is None:
            raise
        raise ours from exc
