"""The public API takes JSON bodies only: a body in any other media type is a 415 before
routing, as Twilio answers a body it cannot read, rather than a 422 about fields the client
did send (form-encoded, say). Twilio's own webhooks (/webhooks, form-encoded) are not ours to
refuse, and a request without a body (GET, DELETE, a POST that takes none) needs no type."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from smsrelay.service import problems

_WITH_BODY = {"POST", "PUT", "PATCH"}


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class JsonOnly:
    def __init__(self, app: ASGIApp, prefix: str = "/v1/"):
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _WITH_BODY and scope["path"].startswith(self.prefix):
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            has_body = headers.get(b"content-length", b"0") not in (b"0", b"") or b"transfer-encoding" in headers
            if (content_type or has_body) and not is_json(content_type):
                body = json.dumps(problems.UNSUPPORTED_MEDIA_TYPE().to_dict()).encode()
                await send({"type": "http.response.start", "status": 415,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
