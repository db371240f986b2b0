"""The Prometheus alert for SMS pumping pages on the alert engine's own finding."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"


def test_pumping_alert_rule__promtool_unit_test():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH (CI installs Debian's prometheus package to run this check)")
    result = subprocess.run([promtool, "test", "rules", str(PROMETHEUS / "spend_test.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
