"""Validated configuration, read from the environment (and an optional .env file).

Every process (API, worker, scheduler, simulator, CLI) reads the same settings, so the
simulator signs callbacks with exactly the token the service validates against.
"""

from __future__ import annotations

import json
import os
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Local defaults: shaped like real Twilio credentials so the SDK accepts them, but
# obviously fake. They only ever authenticate against the simulator.
DEFAULT_ACCOUNT_SID = "AC" + "5" * 32
DEFAULT_AUTH_TOKEN = "simulated_auth_token_0000000000"
DEFAULT_SIMULATOR_URL = "http://127.0.0.1:8010"


class Settings(BaseModel):
    """Each field is read from the environment variable of its name (any case), then from
    ./.env; a value given to the constructor wins over both, and `_env_file=None` skips .env.
    That is what pydantic-settings did; reading them here keeps its import (a third of the
    CLI's start-up, issue 19) out of every process."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        given = dict(data)
        env_file = given.pop("_env_file", ".env")
        return {**environment(cls.model_fields, env_file), **given}

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
    # "maxMessagesPerMinute" counts over this window; shorter only for rehearsals and tests.
    rate_window_seconds: float = Field(default=60.0, gt=0)
    # Our send stamp is taken just before the request to Twilio, which records it a little later;
    # the window is widened by this much so that jitter cannot put one too many into Twilio's minute.
    rate_margin_seconds: float = Field(default=2.0, ge=0)

    # Message bodies are purged after this many days; rows and metadata stay for the runbook.
    content_retention_days: int = Field(default=30, ge=1)
    # Message rows (with their callbacks and events) are deleted after this many days; unset keeps
    # them forever. At least 8: the dashboard's and the incident commands' 7-day views read rows.
    message_retention_days: int | None = Field(default=None, ge=8)
    # Where rows are written (gzip NDJSON, a folder per UTC day) before they are deleted; unset: not kept.
    message_export_dir: Path | None = None
    # Per API key, shared by every API process (counted in PostgreSQL).
    api_rate_limit_per_minute: int = Field(default=6000, ge=1)
    # Largest request body the API reads; a 1,600-character SMS is far below it.
    max_request_bytes: int = Field(default=64 * 1024, ge=1024)
    # POST /v1/messages:batch only: 1,000 messages of 1,600 characters fit even \u-escaped.
    max_batch_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Operators' token for /admin routes. Unset means every admin route answers 403: admin
    # access is denied by default, never open by accident.
    admin_api_token: str | None = None

    # --- orgs' own webhooks (inbound forwarding), see docs/reliability.md
    # Off, a webhook URL that resolves to loopback, private, link-local or metadata addresses is
    # refused (SSRF). `smsrelay up` turns it on when it runs the simulator, for the local demo.
    webhook_allow_private_networks: bool = False
    # One attempt, from DNS to the last byte read: a webhook that trickles bytes cannot hold a slot.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # An answer's body is read up to this much, then the connection is closed; only the status counts.
    webhook_max_response_bytes: int = Field(default=64 * 1024, ge=0)
    # Forwards in flight per worker process, apart from the send slots.
    webhook_concurrency: int = Field(default=10, ge=1)
    # Forwards in flight per org across all workers (procrastinate locks in PostgreSQL).
    webhook_per_org_concurrency: int = Field(default=2, ge=1)
    # --- events orgs hear back (status webhooks, inbound forwards), see docs/api.md
    # A failed delivery is retried with exponential backoff and jitter for this long after its
    # event was made; then it is 'failed' (kept, replayable).
    webhook_retry_hours: float = Field(default=24.0, gt=0)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=1800.0, gt=0)
    # Consecutive failed attempts after which an endpoint is 'failing' (shown, alerted on).
    webhook_failing_after: int = Field(default=5, ge=1)
    # After a rotation the previous signing secret still verifies for this long.
    webhook_secret_grace_hours: float = Field(default=24.0, ge=0)
    # How often an idle delivery loop looks for due events.
    webhook_poll_seconds: float = Field(default=0.25, gt=0)

    # A worker process lowers its own CPU priority by this much (nice): where API and workers
    # share cores, accepting keeps answering while sends queue in the database; alone on its
    # machine a worker loses nothing by it. 0 leaves the priority alone.
    worker_nice: int = Field(default=10, ge=0, le=19)
    # The send loop's pace (service/outbound/send_queue.py): claims at most this often while
    # slots are free, so one claim takes a batch instead of each freed slot one row; and at most
    # this many sends per second per worker process (unset: no cap), so that on a database that
    # is also accepting, sending never takes the share accept needs: the backlog waits in
    # "SendQueue" instead of in front of the accept statements.
    send_claim_interval_seconds: float = Field(default=0.05, ge=0)
    send_max_per_second: float | None = Field(default=None, gt=0)
    # Scheduled sends (sendAt): how far ahead a send may be scheduled, at least and at most. The
    # minimum keeps "schedule" from meaning "now, but later"; rehearsals and tests shorten it.
    schedule_min_seconds: float = Field(default=60.0, ge=0)
    schedule_max_days: float = Field(default=35.0, gt=0)

    simulator_host: str = "127.0.0.1"
    simulator_port: int = 8010

    # --- observability (issue 6): metrics, StatsD, alert thresholds and notification channels
    # Set, GET /metrics answers 401 without `Authorization: Bearer <token>` (what Prometheus's
    # `authorization` scrape option sends). Unset, it is open, like most exporters.
    metrics_token: str | None = None
    # Scrapes within this many seconds of the last query share its answer (per API process), so
    # scrapers, however many, cost PostgreSQL one query per interval.
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    # Per-org labels multiply series by the number of orgs; off unless cardinality allows.
    metrics_per_org_labels: bool = False
    statsd_host: str | None = None
    statsd_port: int = 8125
    # DogStatsD tags (|#status:sent); plain StatsD gets the label folded into the name instead.
    statsd_dogstatsd_tags: bool = True
    dashboard_url: str | None = Field(default=None, description="linked from alerts; default PUBLIC_BASE_URL/dashboard")
    alert_webhook_url: str | None = None
    slack_webhook_url: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    alert_failed_min_count: int = 10
    alert_failed_min_share: float = 0.2
    alert_failed_window_seconds: int = 300
    alert_flat_window_seconds: int = 900
    alert_flat_min_inbound: int = 3
    alert_delivery_rate_min: float = 0.9
    alert_delivery_rate_min_final: int = 20
    alert_delivery_rate_window_seconds: int = 900
    alert_backlog_seconds: float = 300
    alert_balance_min: float = 20.0
    alert_balance_runway_hours: float = 24.0
    alert_mitigation_seconds: float = 3600
    alert_webhook_failing_seconds: float = 900
    # SMS pumping (domain/pumping.py): the window compared with the same window on earlier days.
    alert_pumping_window_seconds: int = 900
    # Twilio's balance is fetched by the scheduler at most this often, never per scrape.
    balance_refresh_seconds: float = 300

    # --- dashboard (issue 7), see docs/dashboard.md
    dashboard_admin_user: str = "admin"
    # An argon2 hash (`python -m smsrelay.web.dashboard.auth hash`); wins over the plain one.
    dashboard_admin_password_hash: str | None = None
    # Plain, for local use only: hashed in memory at start-up and never stored.
    dashboard_admin_password: str | None = None
    # Unset: one random secret kept in $SMSRELAY_HOME, shared by the processes of `smsrelay up`;
    # API processes on several machines must all be given the same value.
    session_secret: str | None = None
    dashboard_session_hours: float = 12.0
    # Login attempts (right or wrong) allowed per window, counted in "RateCounter" so every API
    # process shares them; over either limit the login answers 429 without checking the password.
    dashboard_login_attempts_per_account: int = Field(default=20, ge=1)
    dashboard_login_attempts_per_client: int = Field(default=10, ge=1)
    dashboard_login_window_seconds: int = Field(default=900, ge=1)

    # --- the incident autopilot (issue 19), off per cause until `smsrelay autopilot enable`
    # A cause is acted on once diagnosed at this confidence for this long, and still failing
    # within the live window; then its mitigation must stop the failures within verify seconds.
    autopilot_min_confidence: float = Field(default=0.8, ge=0, le=1)
    # The scheduler runs the autopilot this often (its other duties keep their own tick), so a
    # cause is mitigated within confirm + tick seconds of its onset: 75 s by default.
    autopilot_tick_seconds: float = Field(default=15.0, gt=0)
    autopilot_confirm_seconds: float = Field(default=60.0, ge=0)
    autopilot_live_seconds: float = Field(default=120.0, gt=0)
    autopilot_window_seconds: int = Field(default=900, ge=60)
    autopilot_verify_seconds: float = Field(default=120.0, ge=0)
    autopilot_probe_seconds: float = Field(default=60.0, ge=0)
    autopilot_close_seconds: float = Field(default=300.0, ge=0)
    autopilot_max_actions_per_hour: int = Field(default=6, ge=1)
    autopilot_throttle_per_minute: int = Field(default=30, ge=1)
    autopilot_contain_share: float = Field(default=0.9, gt=0, le=1)

    def default_token_problem(self) -> str | None:
        """Why this API must not start, if it would check Twilio's signatures against the default
        token, which anyone can read in our source. Only a simulator-backed API that nothing
        outside this machine can reach may use it."""
        if self.twilio_auth_token != DEFAULT_AUTH_TOKEN:
            return None
        if self.uses_simulator and not self.has_real_credentials and is_loopback_url(self.public_base_url):
            return None
        why = ("the Twilio account is real" if self.has_real_credentials or not self.uses_simulator
               else f"PUBLIC_BASE_URL {self.public_base_url} is not loopback")
        return (f"TWILIO_AUTH_TOKEN is not set and {why}: its default is public, so anyone could forge Twilio's "
                "webhooks (STOP/START, statuses); set TWILIO_AUTH_TOKEN to the account's auth token")

    @property
    def has_real_credentials(self) -> bool:
        return self.twilio_account_sid != DEFAULT_ACCOUNT_SID

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


def environment(fields: dict[str, Any], env_file: str | Path | None = ".env") -> dict[str, Any]:
    """The fields' values found in `env_file` and then the environment (which wins), by field
    name in any case; a list, set or dict field's value is JSON."""
    names = {name.lower(): name for name in fields}
    found: dict[str, Any] = {}
    if env_file is not None and Path(env_file).is_file():
        from dotenv import dotenv_values

        found.update((names[k.lower()], v) for k, v in dotenv_values(env_file).items()
                     if k.lower() in names and v is not None)
    found.update((names[k.lower()], v) for k, v in os.environ.items() if k.lower() in names)
    for name, value in found.items():
        if _is_json(fields[name].annotation):
            try:
                found[name] = json.loads(value)
            except ValueError:
                pass  # left to the field's validation, which names the variable
    return found


def _is_json(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, set, frozenset, tuple, dict) or annotation in (list, set, dict, tuple):
        return True
    return any(_is_json(arg) for arg in typing.get_args(annotation) if arg is not type(None))


def is_loopback_url(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def up_defaults(settings: Settings, host: str, port: int) -> tuple[Settings, dict[str, str]]:
    """What `smsrelay up` changes for the processes it starts, unless the operator set it
    (environment or .env): the settings as its children will see them, and their variables."""
    overrides: dict[str, str] = {}
    if "public_base_url" not in settings.model_fields_set:
        overrides["PUBLIC_BASE_URL"] = f"http://{host}:{port}"
    else:
        overrides["PUBLIC_BASE_URL"] = settings.public_base_url
    if (settings.uses_simulator and not settings.has_real_credentials
            and "webhook_allow_private_networks" not in settings.model_fields_set):
        # The local demo's org webhooks are on this machine; with real Twilio they never may be
        # (SSRF), unless the operator says so.
        overrides["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = "true"
    changed = {"public_base_url": overrides["PUBLIC_BASE_URL"],
               "webhook_allow_private_networks": overrides.get("WEBHOOK_ALLOW_PRIVATE_NETWORKS") == "true"
               or settings.webhook_allow_private_networks}
    return settings.model_copy(update=changed), overrides


@lru_cache
def get_settings() -> Settings:
    return Settings()
