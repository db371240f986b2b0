"""schemathesis against our own /openapi.json: no 5xx, and no response outside the schema.

Run through schemathesis' own CLI against the live app on loopback (its pytest plugin does
not load under the pytest we pin)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import build_stack

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


ADMIN_TOKEN = "fuzz-admin-token"


@pytest.fixture
def fuzz_stack(database_url):
    stack = build_stack(database_url, start_worker=False, settings_overrides={"admin_api_token": ADMIN_TOKEN})
    yield stack
    stack.stop()


def _run(url: str, token: str, tmp_path: Path, *select: str) -> subprocess.CompletedProcess:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    return subprocess.run(
        [str(schemathesis), "run", url, "--checks", CHECKS, "--max-examples", "30", "--seed", "1",
         "--header", f"Authorization: Bearer {token}", *select, "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=600)


def test_openapi__no_server_errors_and_responses_match_the_schema(fuzz_stack, tmp_path):
    key = fuzz_stack.create_org("Fuzz", numbers=("+15017122661",))["apiKey"]
    schema_url = f"{fuzz_stack.api_url}/openapi.json"
    # HTML pages and the Prometheus exposition are not JSON APIs; webhooks are signed (their
    # 403s are tested on their own); admin routes get a pass with the operator's token.
    org_routes = _run(schema_url, key, tmp_path, "--exclude-path-regex", "^/(dashboard|metrics|admin)")
    admin_routes = _run(schema_url, ADMIN_TOKEN, tmp_path, "--include-path-regex", "^/admin")
    for result in (org_routes, admin_routes):
        print(result.stdout[-4000:])
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "test cases:" in result.stdout.lower() and " generated" in result.stdout
