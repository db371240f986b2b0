"""Settings are read as pydantic-settings read them (the CLI no longer imports it, issue 19):
constructor values win over the environment, the environment over ./.env, names in any case,
`_env_file=None` skips .env, and the fields an operator set are known to `up_defaults`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from smsrelay.settings import Settings, environment


def test_precedence__constructor_then_environment_then_env_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TWILIO_TIMEOUT_SECONDS=3.5\nworker_nice=4\nPUBLIC_BASE_URL=http://h:1\nnot_ours=x\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("Worker_Nice", "7")
    monkeypatch.delenv("TWILIO_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    s = Settings()
    assert (s.twilio_timeout_seconds, s.worker_nice, s.public_base_url) == (3.5, 7, "http://h:1")
    assert {"twilio_timeout_seconds", "worker_nice", "public_base_url"} <= s.model_fields_set
    assert "feature_sms_enabled" not in s.model_fields_set
    assert Settings(worker_nice=2).worker_nice == 2
    bare = Settings(_env_file=None)
    assert (bare.twilio_timeout_seconds, bare.worker_nice, bare.public_base_url) == (10.0, 7, "http://127.0.0.1:8000")


def test_values_are_validated_and_typed(monkeypatch):
    monkeypatch.setenv("FEATURE_SMS_ENABLED", "false")
    monkeypatch.setenv("SMSRELAY_HOME", "/srv/relay")
    s = Settings(_env_file=None)
    assert s.feature_sms_enabled is False and str(s.smsrelay_home) == "/srv/relay"
    monkeypatch.setenv("WORKER_NICE", "99")
    with pytest.raises(ValidationError, match="worker_nice"):
        Settings(_env_file=None)


def test_a_list_or_dict_field_reads_json(monkeypatch):
    class More(Settings):
        codes: list[int] = []
        prices: dict[str, float] | None = None

    monkeypatch.setenv("CODES", "[21408, 30007]")
    monkeypatch.setenv("PRICES", '{"US": 0.0079}')
    s = More(_env_file=None)
    assert s.codes == [21408, 30007] and s.prices == {"US": 0.0079}
    assert environment(More.model_fields, None)["codes"] == [21408, 30007]


def test_reading_settings_imports_no_pydantic_settings():
    r = subprocess.run([sys.executable, "-c", "import sys; from smsrelay.settings import get_settings; get_settings(); "
                        "print('pydantic_settings' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
