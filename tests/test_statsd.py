"""The StatsD adapter (smsrelay/statsd.py): lines packed into datagrams under MAX_DATAGRAM, sent
over UDP as they are."""

from __future__ import annotations

import asyncio
import socket

from smsrelay import statsd


def test_datagrams__pack_whole_lines_under_the_limit():
    lines = [f"smsrelay.metric.{i}:{i}|g" for i in range(400)]
    packets = statsd.datagrams(lines)
    assert len(packets) > 1
    assert all(len(p) <= statsd.MAX_DATAGRAM for p in packets)
    assert [line for p in packets for line in p.decode().split("\n")] == lines
    assert statsd.datagrams([]) == []


def test_send__delivers_every_line_over_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        lines = [f"twilio.sms.outbound:{i}|c|#status:delivered" for i in range(200)]
        asyncio.run(statsd.send("127.0.0.1", server.getsockname()[1], lines))
        received: list[str] = []
        while len(received) < len(lines):
            received.extend(server.recv(65535).decode().split("\n"))
    assert received == lines
