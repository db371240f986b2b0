"""An org's endpoint on loopback that keeps every request it gets, answers what the test says
(`status`, settable while it runs) and can hang (never answer) until stopped, or hold its
answers until the test opens `gate` (a request in flight while the test acts). And the receiver's
side of a signature, checked by the documented snippets (docs/api.md), not by our own code."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.ports import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class EventReceiver:
    def __init__(self, status: int = 200, hang: bool = False) -> None:
        self.status = status
        self.hang = hang
        self.gate: threading.Event | None = None
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.port = free_port()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.hang:
                    with receiver.lock:
                        receiver.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                 time.monotonic(), 0))
                    receiver.stopping.wait()
                    return
                status = receiver.status
                with receiver.lock:
                    receiver.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                             time.monotonic(), status))
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def start(self) -> "EventReceiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if 200 <= h.answered < 300]

    def events(self, message_id: str | None = None) -> list[dict]:
        found = [h.event for h in self.delivered()]
        return [e for e in found if message_id is None or e["data"].get("messageId") == message_id]


def snippet(language: str) -> str:
    """The verification snippet as docs/api.md gives it to receivers."""
    text = DOCS.read_text()
    match = re.search(rf"<!-- snippet:{language} -->\n```{language}\n(.*?)```", text, re.S)
    assert match, f"docs/api.md has no {language} snippet"
    return match.group(1)


def verify_with_python_snippet(secret: str, header: str, body: bytes) -> bool:
    scope: dict = {}
    exec(compile(snippet("python"), "docs/api.md", "exec"), scope)  # noqa: S102 - the documented code itself
    return scope["verify"](secret, header, body)


def verify_with_node(secret: str, header: str, body: bytes, tmp_path: Path) -> bool:
    """The JavaScript snippet, run by the machine's node: an implementation that is not ours."""
    module = tmp_path / "verify.js"
    module.write_text(snippet("javascript"))
    script = ("const {verify} = require(process.argv[1]);"
              "const body = Buffer.from(process.argv[4], 'base64');"
              "process.stdout.write(String(verify(process.argv[2], process.argv[3], body)));")
    out = subprocess.run(["node", "-e", script, str(module), secret, header, base64.b64encode(body).decode()],
                         capture_output=True, text=True, timeout=30, check=True)
    return out.stdout == "true"
