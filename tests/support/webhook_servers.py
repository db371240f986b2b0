"""Hostile org webhooks on loopback: one that counts connections, a tarpit that answers one
byte a second, one whose answer never ends. Plain sockets, so nothing in between is polite."""

from __future__ import annotations

import socket
import threading
import time

from tests.support.ports import free_port


class LoopbackServer:
    """Accepts on 127.0.0.1; each connection is handled by `serve(conn)` in a daemon thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.sock = socket.create_server(("127.0.0.1", self.port), backlog=128)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with self.lock:
                self.connections += 1
                self.open += 1
                self.peak = max(self.peak, self.open)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                read_request(conn)
                self.serve(conn)
        except OSError:
            pass  # the client hung up: what a cap or a deadline does
        finally:
            with self.lock:
                self.open -= 1

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


class Tarpit(LoopbackServer):
    """Answers one byte a second, forever: never idle long enough for a per-read timeout."""

    def serve(self, conn: socket.socket) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + b"X-Slow: " + b"z" * 10_000
        for byte in answer:
            if self.stopping.wait(1.0):
                return
            conn.sendall(bytes([byte]))


class EndlessBody(LoopbackServer):
    """200 at once, then a chunked body that never ends."""

    sent = 0

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 16384
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        while not self.stopping.is_set():
            conn.sendall(frame)
            self.sent += len(chunk)
            time.sleep(0.005)
