"""Callback URL checks (SSRF policy), made when a subscription is created or updated and again
at every connection the delivery worker opens.

A callback host must be, or resolve only to, globally routable addresses: loopback, private,
link-local (incl. cloud metadata 169.254.169.254), shared/CGNAT, unspecified, multicast and
reserved addresses are refused (IPv4-mapped IPv6 is unwrapped first), unless the address lies in
`settings.callback_allowed_networks`. At delivery the `GuardedBackend` resolves the host once,
vets every address and connects to the vetted IP, so DNS rebinding has no window; TLS SNI and
certificate verification still use the URL's host name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import httpcore2

from vtn.core.errors import BadRequest
from vtn.core.settings import Settings

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def check_callback_url(url: str, settings: Settings) -> None:
    """Refuse URLs the VTN must not call: wrong scheme, credentials, no host, a forbidden address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"callbackUrl {url!r} is not a valid URL") from exc
    allowed = {"https", "http"} if settings.callback_allow_http else {"https"}
    if parts.scheme not in allowed:
        raise BadRequest(f"callbackUrl must use {' or '.join(sorted(allowed))}, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise BadRequest("callbackUrl has no host")
    if parts.username or parts.password:
        raise BadRequest("callbackUrl must not carry credentials; use bearerToken")
    host = parts.hostname
    try:
        addresses = [ip_address(host)]
    except ValueError:
        try:
            addresses = [ip_address(a) for a in resolve_host(host, port or (443 if parts.scheme == "https" else 80))]
        except OSError:
            # Not resolvable now (DNS down, or a name that will exist later): every delivery
            # resolves and vets again, so nothing is called that the policy forbids.
            return
    networks = allowed_networks(tuple(settings.callback_allowed_networks))
    for address in addresses:
        reason = forbidden_reason(address, networks)
        if reason:
            shown = "" if str(address) == host else f" (resolves to {address})"
            raise BadRequest(f"callbackUrl host {host!r}{shown} is a {reason} address; the VTN does not call it")


@lru_cache(maxsize=16)
def allowed_networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ip_network(n, strict=False) for n in networks)


def unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forbidden_reason(address: IPAddress, allowed: Iterable[Network] = ()) -> str | None:
    """Why the VTN must not connect to `address` (None: it may)."""
    plain = unwrap(address)
    for network in allowed:
        if plain.version == network.version and plain in network:
            return None
    checks = (
        ("unspecified", plain.is_unspecified),
        ("loopback", plain.is_loopback),
        ("link-local", plain.is_link_local),  # includes the 169.254.169.254 metadata service
        ("multicast", plain.is_multicast),
        ("reserved", plain.is_reserved),
        ("private", plain.is_private),
        ("non-global", not plain.is_global),  # shared address space 100.64/10, documentation, ...
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def resolve_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking; patched in tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_host_async(host: str, port: int) -> list[str]:
    try:
        return [str(ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, resolve_host, host, port)


class BlockedAddress(httpcore2.ConnectError):
    """The callback host is, or resolves to, an address the SSRF policy forbids."""


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore network backend that vets the resolved address and connects to it literally."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = allowed_networks(tuple(allowed))
        self.inner = httpcore2.AnyIOBackend()

    async def vet(self, host: str, port: int) -> str:
        try:
            addresses = await resolve_host_async(host, port)
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore2.ConnectError(f"{host} has no address")
        for address in addresses:
            reason = forbidden_reason(ip_address(address), self.allowed)
            if reason:
                raise BlockedAddress(f"blocked: {host} resolves to {reason} address {address}")
        return addresses[0]

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.AsyncNetworkStream:
        address = await self.vet(host, port)
        return await self.inner.connect_tcp(
            address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:  # noqa: ASYNC109
        raise BlockedAddress("blocked: unix sockets are never callback targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
