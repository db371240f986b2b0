"""Validated configuration, read from the environment (and an optional .env file).

Every process (API, worker, scheduler, simulator, CLI) reads the same settings, so the
simulator signs callbacks with exactly the token the service validates against.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Local defaults: shaped like real Twilio credentials so the SDK accepts them, but
# obviously fake. They only ever authenticate against the simulator.
DEFAULT_ACCOUNT_SID = "AC" + "5" * 32
DEFAULT_AUTH_TOKEN = "simulated_auth_token_0000000000"
DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8010"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, description="PostgreSQL URL; embedded when unset")
    smsrelay_home: Path = Field(default=Path(".smsrelay"), description="data directory for the embedded database")

    twilio_account_sid: str = DEFAULT_ACCOUNT_SID
    twilio_auth_token: str = DEFAULT_AUTH_TOKEN
    # When set, the SDK talks to this base URL instead of api.twilio.com. Unset with real
    # credentials means real Twilio; unset with the default credentials means the simulator.
    twilio_api_base: str | None = None
    twilio_timeout_seconds: float = 10.0

    public_base_url: str = "http://127.0.0.1:8000"
    feature_sms_enabled: bool = True

    # Operators' token for /admin routes. Unset means every admin route answers 403: admin
    # access is denied by default, never open by accident.
    admin_api_token: str | None = None

    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8010

    @property
    def uses_simulator(self) -> bool:
        return self.twilio_api_base is not None or self.twilio_account_sid == DEFAULT_ACCOUNT_SID

    @property
    def twilio_base_url(self) -> str | None:
        """Where the SDK's requests go; None means Twilio itself."""
        if self.twilio_api_base:
            return self.twilio_api_base.rstrip("/")
        if self.twilio_account_sid == DEFAULT_ACCOUNT_SID:
            return f"http://{self.simulator_host}:{self.simulator_port}"
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
