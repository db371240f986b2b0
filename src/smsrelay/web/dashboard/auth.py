"""Operator login for the dashboard: one admin from configuration, a signed session cookie and
a CSRF token bound to the session.

* The password is only ever compared against an argon2 hash: DASHBOARD_ADMIN_PASSWORD_HASH, or
  DASHBOARD_ADMIN_PASSWORD hashed in memory at start-up. With neither set, `smsrelay up` on the
  simulator generates one into $SMSRELAY_HOME/dashboard-password; against real Twilio the
  login stays closed until one is configured (never open by accident).
* The session cookie is signed and timestamped (itsdangerous) and names a row of
  "DashboardSession" (service/operations/operator_sessions.py), checked on every request: logging
  out ends the session for good, not just in the browser that held it. The cookie's key is
  SESSION_SECRET, or else one random secret created once in $SMSRELAY_HOME and read by every
  process sharing that home (all of `smsrelay up`). Not in the database: "SystemSetting"
  is copied into "AuditLog" by its trigger. Several machines must set SESSION_SECRET.
* The session carries a keyed fingerprint of the configured password: changing the password
  ends every session (in the database too, so changing it back revives none). Every
  state-changing form posts the session's CSRF token; the login form posts a single-use token
  bound to a short-lived cookie of its own (no login CSRF, no replayed form).
* Attempts are limited per account and per client, counted in the database; argon2 (64 MiB)
  runs in a thread, at most two at a time, never on the event loop that serves sends and
  webhooks.

`python -m smsrelay.web.dashboard.auth hash` prints a hash for DASHBOARD_ADMIN_PASSWORD_HASH.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

from smsrelay.service.operations import operator_sessions
from smsrelay.service.runtime import Runtime
from smsrelay.settings import Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "smsrelay_dash"
LOGIN_COOKIE = "smsrelay_dash_login"
PASSWORD_FILE = "dashboard-password"
SECRET_FILE = "dashboard-session-secret"
LOGIN_FORM_SECONDS = 3600
# Each check takes 64 MiB and most of a core: a flood of logins queues here rather than
# filling memory or the default thread pool.
HASHES_AT_ONCE = 2
_hasher = PasswordHasher()
# Verified against when the user name is wrong, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Credentials:
    user: str
    hash: str | None  # None: login closed
    source: str  # "hash", "password", "generated" or "none"
    hint: str | None = None  # shown on the login page (never the password itself)
    # Changes when the configured password does, and is the same in every process (a plain
    # password is hashed with a random salt per process, so its hash cannot serve).
    stamp: str = ""


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    token: str  # names its "DashboardSession" row (by hash)

    @property
    def actor(self) -> str:
        return f"dashboard:{self.user}"


def _shared_random(home: Path, name: str, nbytes: int) -> str:
    """One random value per $SMSRELAY_HOME, created atomically: every process of `smsrelay up`
    (they share the home) reads the same one."""
    path = home / name
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{name}.{os.getpid()}"
    tmp.write_text(secrets.token_urlsafe(nbytes) + "\n")
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)  # fails if another process won the race; then we read theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def load_credentials(settings: Settings, secret: str) -> Credentials:
    user = settings.dashboard_admin_user

    def stamp(configured: str) -> str:
        return hmac.new(secret.encode(), f"{user}\0{configured}".encode(), hashlib.sha256).hexdigest()[:16]

    if settings.dashboard_admin_password_hash:
        configured = settings.dashboard_admin_password_hash
        return Credentials(user, configured, "hash", stamp=stamp(configured))
    if settings.dashboard_admin_password:
        configured = settings.dashboard_admin_password
        return Credentials(user, _hasher.hash(configured), "password", stamp=stamp(configured))
    if settings.uses_simulator:
        path = Path(settings.smsrelay_home) / PASSWORD_FILE
        password = _shared_random(Path(settings.smsrelay_home), PASSWORD_FILE, 12)
        log.warning("dashboard: user %r, generated password in %s (set DASHBOARD_ADMIN_PASSWORD_HASH to choose one)",
                    user, path)
        return Credentials(user, _hasher.hash(password), "generated", f"Local mode: the password is in {path}.",
                           stamp=stamp(password))
    return Credentials(user, None, "none", "Login is closed: set DASHBOARD_ADMIN_PASSWORD_HASH (see docs/dashboard.md).")


def check_password(creds: Credentials, user: str, password: str) -> bool:
    """CPU- and memory-heavy by design: call through Auth.verify, off the event loop."""
    user_ok = hmac.compare_digest(user.encode(), creds.user.encode())
    try:
        password_ok = _hasher.verify(creds.hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    return user_ok and password_ok and creds.hash is not None


class Auth:
    def __init__(self, creds: Credentials, secret: str, settings: Settings):
        self.creds = creds
        self.max_age = int(settings.dashboard_session_hours * 3600)
        self.secure = settings.public_base_url.startswith("https://")
        self._sessions = URLSafeTimedSerializer(secret, salt="smsrelay.dashboard.session")
        self._login = URLSafeTimedSerializer(secret, salt="smsrelay.dashboard.login")
        self._fingerprint = creds.stamp
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)

    async def verify(self, user: str, password: str) -> bool:
        async with self._hashing:
            return await asyncio.to_thread(check_password, self.creds, user, password)

    # --- session ------------------------------------------------------------------------------
    async def issue(self, rt: Runtime, user: str) -> str:
        """A new session: its row, and the cookie value that names it."""
        token = secrets.token_urlsafe(32)
        async with rt.pool.connection() as conn:
            await operator_sessions.start(conn, token, user, self._fingerprint, self.max_age)
        return self._sessions.dumps({"u": user, "c": secrets.token_urlsafe(32), "f": self._fingerprint, "s": token})

    def _cookie(self, request: Request) -> Session | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=self.max_age)
        except BadSignature:
            return None
        if (not isinstance(data, dict) or data.get("f") != self._fingerprint or data.get("u") != self.creds.user
                or not isinstance(data.get("s"), str)):
            return None
        return Session(data["u"], data["c"], data["s"])

    async def session(self, rt: Runtime, request: Request) -> Session | None:
        """The request's session if its cookie is genuine and its row is still open."""
        found = self._cookie(request)
        if found is None:
            return None
        async with rt.pool.connection() as conn:
            if not await operator_sessions.is_open(conn, found.token, found.user, self._fingerprint):
                return None
        return found

    async def end(self, rt: Runtime, session: Session, reason: str = "logout") -> None:
        async with rt.pool.connection() as conn:
            await operator_sessions.end(conn, session.token, reason)

    # --- login form token ---------------------------------------------------------------------
    def login_token(self) -> tuple[str, str]:
        """(cookie value, form value): the form's token must match the browser's cookie."""
        nonce = secrets.token_urlsafe(24)
        return self._login.dumps(nonce), nonce

    def login_nonce(self, request: Request, submitted: str | None) -> str | None:
        """The form's token if it matches a genuine, unexpired login cookie (whether it was
        used before is for operator_sessions.use_login_form to say)."""
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw or not submitted:
            return None
        try:
            nonce = self._login.loads(raw, max_age=LOGIN_FORM_SECONDS)
        except BadSignature:
            return None
        return submitted if hmac.compare_digest(str(nonce).encode(), submitted.encode()) else None

    def cookie_args(self, path: str = "/dashboard") -> dict:
        return {"httponly": True, "samesite": "strict", "secure": self.secure, "path": path}


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf.encode(), submitted.encode())


def session_secret(settings: Settings) -> str:
    return settings.session_secret or _shared_random(Path(settings.smsrelay_home), SECRET_FILE, 48)


async def get_auth(rt: Runtime) -> Auth:
    """Built on first use (hashing a plain password takes a moment, in a thread) and kept for
    the life of the process. Sessions from another password are ended then, in every process's
    view, so a password changed and changed back revives none."""
    auth = rt.extras.get("dashboard_auth")
    if auth is None:
        lock = rt.extras.setdefault("dashboard_auth_lock", asyncio.Lock())
        async with lock:
            auth = rt.extras.get("dashboard_auth")
            if auth is None:
                secret = session_secret(rt.settings)
                creds = await asyncio.to_thread(load_credentials, rt.settings, secret)
                auth = Auth(creds, secret, rt.settings)
                async with rt.pool.connection() as conn:
                    await operator_sessions.end_other_passwords(conn, creds.stamp)
                rt.extras["dashboard_auth"] = auth
    return auth


if __name__ == "__main__":  # pragma: no cover - operator tool
    import getpass
    import sys

    if sys.argv[1:] != ["hash"]:
        sys.exit("usage: python -m smsrelay.web.dashboard.auth hash")
    first = getpass.getpass("Dashboard password: ")
    if first != getpass.getpass("Again: ") or len(first) < 12:
        sys.exit("passwords differ or are shorter than 12 characters")
    print(_hasher.hash(first))


def local_password(settings: Settings) -> str | None:
    """The generated local-mode password (simulator, nothing configured), for `smsrelay up` to show."""
    if settings.dashboard_admin_password_hash or settings.dashboard_admin_password or not settings.uses_simulator:
        return None
    return _shared_random(Path(settings.smsrelay_home), PASSWORD_FILE, 12)
