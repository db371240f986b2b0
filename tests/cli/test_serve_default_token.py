"""The default TWILIO_AUTH_TOKEN is in our public source: an API that checked Twilio's signatures
against it would accept anyone's forged STOP/START, status and inbound requests. It is refused
unless the API can only be reached on this machine and talks to the simulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from smsrelay.service.runtime import Runtime
from smsrelay.settings import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, Settings
from tests.support.ports import free_port

REAL_SID = "AC" + "1" * 32


def _smsrelay(tmp_path, database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "PUBLIC_BASE_URL", "SIMULATOR_"))}
    # Its own process group: `up` starts children, which must not outlive a failing test.
    proc = subprocess.Popen([sys.executable, "-m", "smsrelay", *args, "--port", str(free_port())],
                            env={**clean, "DATABASE_URL": database_url, **env}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # Before the fix these commands served forever: running out of time is the test failing.
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"smsrelay {args[0]} started with the default token") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("env", [
    {"TWILIO_ACCOUNT_SID": REAL_SID},                                   # real Twilio, token forgotten
    {"PUBLIC_BASE_URL": "https://sms.example.com"},                     # simulator, but public
    {"TWILIO_API_BASE": "http://127.0.0.1:8010", "PUBLIC_BASE_URL": "http://0.0.0.0:8000"},
], ids=["real-twilio", "public-url", "unspecified-host"])
def test_api__refuses_to_start_with_the_default_token(tmp_path, database_url, env):
    result = _smsrelay(tmp_path, database_url, "api", **env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TWILIO_AUTH_TOKEN" in lines[0]


def test_up__refuses_before_starting_anything(tmp_path, database_url):
    result = _smsrelay(tmp_path, database_url, "up", TWILIO_ACCOUNT_SID=REAL_SID)
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN" in result.stderr.strip().splitlines()[-1]
    assert "smsrelay is up" not in result.stdout


@pytest.mark.parametrize("fields", [
    dict(twilio_account_sid=REAL_SID),
    dict(public_base_url="https://sms.example.com"),
    dict(twilio_account_sid=REAL_SID, twilio_api_base="http://127.0.0.1:8010",
         public_base_url="http://127.0.0.1:8000"),   # the simulator URL, but real credentials
])
def test_create_app__refuses_the_default_token(fields, database_url):
    from smsrelay.web.app import create_app

    settings = Settings(_env_file=None, **fields)
    assert settings.twilio_auth_token == DEFAULT_AUTH_TOKEN
    with pytest.raises(RuntimeError, match="TWILIO_AUTH_TOKEN"):
        create_app(Runtime.create(settings, database_url, pool_size=1))


@pytest.mark.parametrize("public", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"])
def test_default_token__accepted_for_the_local_simulator(public):
    settings = Settings(_env_file=None, twilio_account_sid=DEFAULT_ACCOUNT_SID, public_base_url=public)
    assert settings.default_token_problem() is None
    assert Settings(_env_file=None, twilio_auth_token="a-real-secret", twilio_account_sid=REAL_SID,
                    public_base_url="https://sms.example.com").default_token_problem() is None
