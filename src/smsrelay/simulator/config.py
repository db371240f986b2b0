"""Simulator-only settings (env prefix SIM_).

Credentials are *not* here: the simulator reads TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN from
`smsrelay.settings.Settings`, exactly as the service does, so the two always agree on the token
used to sign and validate webhooks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CallbackMode = Literal["normal", "duplicate", "out_of_order"]

# Fields that may be changed on a running simulator (PATCH /_sim/config).
RUNTIME_FIELDS = (
    "callback_latency_ms",
    "callback_mode",
    "callback_timeout_seconds",
    "callback_max_attempts",
    "callback_retry_base_ms",
    "speed_long_code",
    "speed_toll_free",
    "speed_short_code",
    "queue_max_seconds",
    "max_concurrency",
    "api_latency",
    "random_429_rate",
    "random_5xx_rate",
    "outage_hang_seconds",
    "inbound_url",
)


class SimConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", env_file=".env", extra="ignore")

    seed: int = 0
    inbound_url: str = "http://127.0.0.1:8000/webhooks/twilio/inbound"

    # Time between a message leaving the sender queue ("sent") and its final status.
    callback_latency_ms: int = Field(default=1000, ge=0)
    callback_mode: CallbackMode = "normal"
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    callback_max_attempts: int = Field(default=4, ge=1)
    callback_retry_base_ms: int = Field(default=500, ge=0)

    # Throughput, in segments per second per sender, by sender kind.
    speed_long_code: float = Field(default=1.0, gt=0)
    speed_toll_free: float = Field(default=3.0, gt=0)
    speed_short_code: float = Field(default=100.0, gt=0)
    # Twilio queues up to 4 hours of traffic per sender; beyond that create answers 21611.
    queue_max_seconds: float = Field(default=4 * 3600, gt=0)
    # Twilio's default ValidityPeriod (and maximum) is 36000 s; older messages fail with 30001.
    default_validity_seconds: int = 36000

    # Concurrent Messages create requests before 429 / 20429.
    max_concurrency: int = Field(default=100, ge=1)
    # REST latency: "" (none), "fixed:MS" or "lognormal:MEDIAN_MS:P99_MS".
    api_latency: str = ""
    random_429_rate: float = Field(default=0.0, ge=0, le=1)
    random_5xx_rate: float = Field(default=0.0, ge=0, le=1)
    # How long an "outage" hangs a request before answering 503.
    outage_hang_seconds: float = Field(default=30.0, ge=0)
    # A Messaging Service stores the body after smart encoding (curly quotes become straight).
    smart_encoding: bool = False

    balance: str = "1000.00"
    currency: str = "USD"
