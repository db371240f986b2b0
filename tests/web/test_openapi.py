"""docs/openapi.json is the app's own OpenAPI document, kept current."""

import json
from pathlib import Path

from smsrelay.web.openapi import document


def test_docs_openapi__matches_the_app():
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert committed == document(), "regenerate: uv run python -m smsrelay.web.openapi > docs/openapi.json"
    assert "/v1/messages" in committed["paths"] and "/webhooks/twilio/status" in committed["paths"]
