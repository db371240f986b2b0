"""Loopback ports for servers started by tests and by bench/: the OS picks a free one, so
parallel runs on one machine do not collide."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
