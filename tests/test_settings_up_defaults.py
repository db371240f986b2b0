"""`smsrelay up` lets the local demo's org webhooks reach this machine only when it runs the
simulator; with real Twilio credentials the SSRF rule holds unless the operator lifts it."""

from __future__ import annotations

from smsrelay.settings import Settings, up_defaults

REAL_SID = "AC" + "1" * 32


def test_up_with_the_simulator__allows_private_webhooks():
    settings, env = up_defaults(Settings(_env_file=None), "127.0.0.1", 8000)
    assert env["WEBHOOK_ALLOW_PRIVATE_NETWORKS"] == "true" and settings.webhook_allow_private_networks
    assert env["PUBLIC_BASE_URL"] == "http://127.0.0.1:8000"


def test_up_with_real_credentials__keeps_the_rule():
    settings, env = up_defaults(Settings(_env_file=None, twilio_account_sid=REAL_SID, twilio_auth_token="t"),
                                "127.0.0.1", 8000)
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in env and not settings.webhook_allow_private_networks
    # Even pointed at a simulator URL: real credentials mean real Twilio's rules.
    settings, env = up_defaults(Settings(_env_file=None, twilio_account_sid=REAL_SID, twilio_auth_token="t",
                                         twilio_api_base="http://127.0.0.1:8010"), "127.0.0.1", 8000)
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in env


def test_up__an_explicit_setting_wins(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "false")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://sms.example.com")
    settings, env = up_defaults(Settings(_env_file=None), "127.0.0.1", 8000)
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in env and not settings.webhook_allow_private_networks
    assert env["PUBLIC_BASE_URL"] == settings.public_base_url == "https://sms.example.com"


def test_other_processes__default_to_the_rule():
    assert Settings(_env_file=None).webhook_allow_private_networks is False
