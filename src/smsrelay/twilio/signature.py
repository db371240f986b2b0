"""X-Twilio-Signature checks with the SDK's RequestValidator."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from twilio.request_validator import RequestValidator


def public_url(public_base_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: what Twilio called, i.e. our public address, not the one uvicorn
    saw behind a proxy. PUBLIC_BASE_URL is configuration, so a client cannot choose it."""
    url = public_base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def is_valid(auth_token: str, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    params = dict(params)
    # The URL as configured is one of the two forms validate() accepts (with and without the
    # port), and it is the one Twilio signs: one HMAC settles the usual case; validate() computes
    # both forms, so a mismatch still gets the SDK's full check.
    if hmac.compare_digest(validator.compute_signature(url, params).encode(), signature.encode()):
        return True
    return validator.validate(url, params, signature)
