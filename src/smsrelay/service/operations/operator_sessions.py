"""The dashboard operator's login attempts and sessions, kept in PostgreSQL so that every API
process sees the same limits, the same used login forms and the same ended sessions."""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timezone

from psycopg import AsyncConnection

from smsrelay.settings import Settings
from smsrelay.store import sql


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int, scope: str):
        super().__init__(f"too many login attempts for this {scope}")
        self.retry_after, self.scope = retry_after, scope


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _account_key(user: str) -> str:
    # Hashed: a user name typed by anyone is not stored as typed.
    return f"dashboard-login:user:{_digest(user.strip().lower()[:200])}"


def _client_key(client: str) -> str:
    return f"dashboard-login:client:{client}"


async def count_attempt(conn: AsyncConnection, settings: Settings, user: str, client: str,
                        *, now: float | None = None) -> None:
    """Counts this attempt against the account and the client; raises TooManyAttempts once
    either is over its limit for the current window (fixed windows, like the API's)."""
    now = time.time() if now is None else now
    size = settings.dashboard_login_window_seconds
    start = math.floor(now / size) * size
    rows = await sql.all(conn, "count_login_attempt", window=datetime.fromtimestamp(start, timezone.utc),
                         account_key=_account_key(user), client_key=_client_key(client))
    counts = {row["key"].split(":")[1]: row["count"] for row in rows}
    retry_after = max(1, math.ceil(start + size - now))
    if counts.get("user", 0) > settings.dashboard_login_attempts_per_account:
        raise TooManyAttempts(retry_after, "account")
    if counts.get("client", 0) > settings.dashboard_login_attempts_per_client:
        raise TooManyAttempts(retry_after, "client")


async def forgive_client(conn: AsyncConnection, client: str) -> None:
    """After a successful login: an operator's own attempts do not pile up over a day of work.
    The account's count stays, so a right password does not reset an attacker's budget."""
    await sql.execute(conn, "forgive_login_client", client_key=_client_key(client))


async def use_login_form(conn: AsyncConnection, nonce: str, lifetime_seconds: int) -> bool:
    """True the first time a login form's token is posted, False every time after."""
    await sql.execute(conn, "forget_used_login_forms", seconds=lifetime_seconds)
    return await sql.one(conn, "use_login_form", nonce=_digest(nonce)) is not None


async def start(conn: AsyncConnection, token: str, user: str, stamp: str, seconds: int) -> None:
    await sql.execute(conn, "forget_old_dashboard_sessions")
    await sql.execute(conn, "start_dashboard_session", id=_digest(token), user=user, stamp=stamp, seconds=seconds)


async def is_open(conn: AsyncConnection, token: str, user: str, stamp: str) -> bool:
    row = await sql.one(conn, "dashboard_session", id=_digest(token), stamp=stamp)
    return row is not None and row["valid"] and row["user"] == user


async def end(conn: AsyncConnection, token: str, reason: str) -> None:
    await sql.execute(conn, "end_dashboard_session", id=_digest(token), reason=reason)


async def end_other_passwords(conn: AsyncConnection, stamp: str) -> int:
    """Ends every session logged in under another password than the one configured now."""
    return await sql.execute(conn, "end_sessions_of_other_passwords", stamp=stamp)
