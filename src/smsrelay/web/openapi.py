"""Print the API's OpenAPI document, generated from the app itself (no database needed)."""

from __future__ import annotations

import json

from smsrelay.service.runtime import Runtime
from smsrelay.settings import Settings
from smsrelay.web.app import create_app


def document() -> dict:
    settings = Settings(_env_file=None)
    # The pool is created closed and never opened: building the schema touches no database.
    rt = Runtime.create(settings, "postgresql://unused/unused", pool_size=1)
    return create_app(rt).openapi()


if __name__ == "__main__":
    print(json.dumps(document(), indent=2))
