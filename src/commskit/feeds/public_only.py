"""Fetch from public addresses only: resolve once, check, and connect to the address checked.

A check before the request (resolve, look, then let the HTTP client resolve again) leaves a
DNS-rebinding gap: the second answer can be 127.0.0.1. Here the transport resolves the host
itself, refuses it when any address is not public, and sends the request to that address (the
``Host`` header and the TLS server name stay the host's, so certificates are still checked
against the name). Every redirect goes through the transport again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: cloud metadata services (most are in non-public ranges anyway; named here for clarity)
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_public(address: Address) -> bool:
    """Return whether ``address`` is a public unicast address (not loopback, private,
    link-local, shared, reserved, multicast, 0.0.0.0/8, metadata, or an IPv6 form of those)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    return address.is_global and not address.is_multicast and address not in METADATA


class RefusedAddress(httpx.ConnectError):
    """The host resolves to an address that is not public (allow_private_networks is off)."""


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """Return the addresses of ``host`` (an IP literal gives itself), in resolver order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal(host: str, address: str) -> str:
    """Return the one-line reason a host is refused."""
    return (
        f"refused: {host} resolves to the non-public address {address} "
        "(set allow_private_networks = true in the feeds settings to allow it)"
    )


class PublicOnlyTransport(httpx.AsyncBaseTransport):
    """Send each request to a checked address of its host; refuse non-public ones."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        resolver: Resolver = resolve,
        allowed: Callable[[Address], bool] = is_public,
    ) -> None:
        self.inner = inner
        self.resolver = resolver
        self.allowed = allowed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            addresses = await self.resolver(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        if not addresses:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request)
        for address in addresses:
            if not self.allowed(ipaddress.ip_address(address.split("%", 1)[0])):
                raise RefusedAddress(refusal(host, address), request=request)
        error: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,  # Host: the name, as written
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": host},
            )
            try:
                return await self.inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # try the host's next address
                error = exc
        assert error is not None
        raise error

    async def aclose(self) -> None:
        await self.inner.aclose()
