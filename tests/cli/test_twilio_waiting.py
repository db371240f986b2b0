"""`smsrelay twilio balance` during an outage (issue 19): on a terminal it shows that it is
waiting for Twilio and for how long at most, then ends with one clear error line; in a pipe it
draws nothing. Twilio is a purpose-built server that never answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.twilio_double import TwilioDouble

SMSRELAY = str(Path(sys.executable).with_name("smsrelay"))


def _balance(database_url: str, twilio_url: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "FORCE_COLOR", "NO_COLOR"))}
    clean.update({"DATABASE_URL": database_url, "TWILIO_API_BASE": twilio_url, "TWILIO_TIMEOUT_SECONDS": "1",
                  "COLUMNS": "120", **env})
    return subprocess.run([SMSRELAY, "twilio", "balance"], env=clean, capture_output=True, text=True, timeout=60)


def test_balance_waiting__spinner_on_a_terminal_then_one_error(database_url):
    with TwilioDouble(hang=True) as twilio:
        shown = _balance(database_url, twilio.url, FORCE_COLOR="1")
        piped = _balance(database_url, twilio.url)
    assert shown.returncode == 1 and shown.stdout == "", shown
    assert "Asking Twilio for the balance (waiting up to 1 s)" in shown.stderr, shown.stderr
    last = shown.stderr.strip().splitlines()[-1]
    assert "smsrelay: Twilio did not answer" in last and "twilio_timeout" in last, shown.stderr

    assert piped.returncode == 1 and "Asking Twilio" not in piped.stderr, piped.stderr
    assert len(piped.stderr.strip().splitlines()) == 1 and piped.stderr.startswith("smsrelay: Twilio did not answer")
    assert twilio.hung >= 2
