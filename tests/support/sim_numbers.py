"""Sender and recipient numbers of each kind Twilio treats differently, for the simulator tests."""

from __future__ import annotations

LONG = "+16505551234"      # long code (10DLC)
LONG2 = "+16505551235"
TOLL = "+18005550100"      # toll-free
SHORT = "12345"            # short code
TO_US = "+14155552671"
TO_US2 = "+14155552672"
TO_FR = "+33612345678"
