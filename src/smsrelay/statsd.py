"""The StatsD adapter: lines in StatsD's text format, sent over UDP.

What to report and under which names is the metrics duty's (service/operations/statsd.py); this
module only packs lines into datagrams and sends them. UDP never blocks on the server, and a lost
datagram is a gap in a graph, not an error.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

# Keep datagrams under a typical MTU; StatsD servers read one datagram at a time.
MAX_DATAGRAM = 1400


def datagrams(lines: Sequence[str]) -> list[bytes]:
    packets, current = [], ""
    for item in lines:
        if current and len(current) + 1 + len(item) > MAX_DATAGRAM:
            packets.append(current.encode())
            current = ""
        current = f"{current}\n{item}" if current else item
    if current:
        packets.append(current.encode())
    return packets


def _sendto(host: str, port: int, packets: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in packets:
            sock.sendto(packet, (host, port))


async def send(host: str, port: int, lines: Sequence[str]) -> None:
    """Send the lines, as few datagrams as fit; the socket work runs off the event loop."""
    await asyncio.to_thread(_sendto, host, port, datagrams(lines))
