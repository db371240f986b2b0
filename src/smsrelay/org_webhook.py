"""The adapter for orgs' own webhooks: one POST to a URL an org chose, so to a stranger.

Three limits hold whatever the other side does. A total deadline per attempt, from the DNS
lookup to the last byte read (httpx's timeouts are per phase: a server that trickles a byte a
second never trips them). A cap on the answer's bytes (only the status matters; the rest is
never held in memory). And the address rule (SSRF): the name is resolved here, every address
it resolves to is checked, and the connection goes to the checked address itself, so a DNS
rebind between check and connect cannot swap it. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

# Cloud metadata services (AWS, GCP, Azure share the IPv4 one; AWS's IPv6 one is in fd00::/8,
# refused as private anyway): named so that a refusal says what was at stake.
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
# Shared address space (carrier-grade NAT) is not "private" to Python, but it is not public.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class WebhookRefused(Exception):
    """The URL may not be called at all; retrying cannot help until the org changes it."""

    code = "webhook_address_refused"


class WebhookFailed(Exception):
    """This attempt failed (network, deadline); a later one may succeed."""


@dataclass(frozen=True)
class Limits:
    deadline_seconds: float
    max_response_bytes: int
    allow_private_networks: bool

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(deadline_seconds=settings.webhook_timeout_seconds,
                   max_response_bytes=settings.webhook_max_response_bytes,
                   allow_private_networks=settings.webhook_allow_private_networks)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes        # at most the cap
    truncated: bool    # the webhook had more to say than the cap let us read


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not be called at this address, or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if address.is_private or (address.version == 4 and address in _SHARED) or not address.is_global:
        return "a private address"
    return None


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # The scope of a link-local IPv6 address (fe80::1%eth0) is dropped; such an address is refused.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def checked_addresses(host: str, port: int, *, allow_private: bool,
                            resolve: Resolver = system_resolver) -> list[IPAddress]:
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise WebhookFailed(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise WebhookFailed(f"{host} resolves to no address")
    if not allow_private:
        for address in addresses:
            why = refusal(address)
            if why is not None:
                # Every address, not only the first: the connection could have used any of them.
                raise WebhookRefused(f"{host} resolves to {address}, {why}; set WEBHOOK_ALLOW_PRIVATE_NETWORKS=true "
                                     "to allow it")
    return addresses


async def post(url: str, body: bytes, headers: Mapping[str, str], limits: Limits, *,
               resolve: Resolver = system_resolver) -> Answer:
    """Raises WebhookRefused (never connected) or WebhookFailed; any HTTP status is an Answer."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise WebhookRefused(f"not a valid URL: {exc}") from exc
    if target.scheme not in ("http", "https") or not target.host:
        raise WebhookRefused("only http and https URLs with a host can be called")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        async with asyncio.timeout(limits.deadline_seconds):
            addresses = await checked_addresses(target.host, port, allow_private=limits.allow_private_networks,
                                                resolve=resolve)
            return await _post_to(addresses, target, body, headers, limits.max_response_bytes)
    except TimeoutError:
        raise WebhookFailed(f"no complete answer within {limits.deadline_seconds:g} s") from None


async def _post_to(addresses: list[IPAddress], target: httpx.URL, body: bytes, headers: Mapping[str, str],
                   cap: int) -> Answer:
    # The Host header and TLS (SNI and the certificate check) keep the name; only the TCP
    # connection is pinned to the address that was checked.
    host_header = target.netloc.decode("ascii").rpartition("@")[2]
    sent = {**headers, "Host": host_header, "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    last: Exception | None = None
    # trust_env=False: a proxy from the environment would connect to the name, not the address.
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=None) as client:
        for address in addresses:
            pinned = target.copy_with(host=str(address))
            try:
                async with client.stream("POST", pinned, content=body, headers=sent, extensions=extensions) as resp:
                    return Answer(resp.status_code, *await _read_capped(resp, cap))
            except httpx.ConnectError as exc:
                last = exc  # the next address of the name may answer
            except httpx.HTTPError as exc:
                raise WebhookFailed(f"{type(exc).__name__}: {exc}") from exc
    raise WebhookFailed(f"cannot connect to {target.host}: {last}")


async def _read_capped(resp: httpx.Response, cap: int) -> tuple[bytes, bool]:
    kept = bytearray()
    if cap == 0:
        return b"", False
    async for chunk in resp.aiter_raw():
        kept += chunk
        if len(kept) >= cap:
            # Leaving the stream unread closes the connection: the rest is never received.
            return bytes(kept[:cap]), len(kept) > cap or not resp.is_stream_consumed
    return bytes(kept), False
