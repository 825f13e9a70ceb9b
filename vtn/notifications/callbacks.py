"""Callback URL checks (SSRF policy), made when a subscription is created or updated and again
at every connection the delivery worker opens.

A callback host must be, or resolve only to, globally routable addresses: loopback, private,
link-local (incl. cloud metadata 169.254.169.254), shared/CGNAT, unspecified, multicast and
reserved addresses are refused (IPv4-mapped IPv6 is unwrapped first), unless the address lies in
`settings.callback_allowed_networks`. At delivery the `GuardedResolver` resolves the host once per
connection, vets every address and has the client connect to the vetted IP, so DNS rebinding has no
window; TLS SNI and certificate verification still use the URL's host name.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import socket
from collections.abc import Iterable
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

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


ECHO_TIMEOUT_SECONDS = 5.0


async def verify_callback_owner(url: str, settings: Settings) -> None:
    """The 3.1.0 webhook ownership check (D310:3327): GET the callback URL with `?echo=<random>`; it must answer
    200 with that value in its body, else the subscription is refused (400). Made through the same SSRF guard
    as deliveries (`check_callback_url` first, then the delivery client: `GuardedResolver`, IP literals vetted,
    no redirects)."""
    import aiohttp

    from vtn.notifications.webhook import make_session

    check_callback_url(url, settings)
    challenge = secrets.token_urlsafe(24)
    try:
        check_literal(urlsplit(url).hostname or "", allowed_networks(tuple(settings.callback_allowed_networks)))
        async with make_session(settings) as session, session.get(
            url, params={"echo": challenge}, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=ECHO_TIMEOUT_SECONDS)
        ) as response:
            status, text = response.status, await response.text(errors="replace")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise BadRequest(f"callbackUrl {url!r} failed the ownership check (GET with ?echo=): "
                         f"{type(exc).__name__}: {exc}") from exc
    if status != 200 or challenge not in text:
        got = f"status {status}" if status != 200 else "a body without the echo value"
        raise BadRequest(f"callbackUrl {url!r} failed the ownership check: GET with ?echo=<value> must answer 200 "
                         f"with the value in its body (OpenADR 3.1.0 Definition, webhook security); it answered {got}")


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


class BlockedAddress(OSError):
    """The callback host is, or resolves to, an address the SSRF policy forbids."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)  # strerror: what clients (aiohttp) show of an OSError

    def __str__(self) -> str:
        return str(self.strerror)


async def vetted_addresses(host: str, port: int, allowed: tuple[Network, ...]) -> list[str]:
    """Every address of `host` (resolved once), or BlockedAddress if any of them is forbidden."""
    addresses = await resolve_host_async(host, port)
    if not addresses:
        raise OSError(errno.ENOENT, f"{host} has no address")
    for address in addresses:
        reason = forbidden_reason(ip_address(address), allowed)
        if reason:
            shown = "" if address == host else f" resolves to {reason} address {address}"
            raise BlockedAddress(f"blocked: {host}{shown or f' is a {reason} address'}")
    return addresses


class GuardedResolver(AbstractResolver):
    """aiohttp resolver of the webhook client: resolves a host once per connection, vets every address and
    hands aiohttp only vetted IPs to connect to (the URL's host name stays the TLS SNI and certificate name).

    aiohttp does not ask a resolver about IP literals: `WebhookTransport` checks those itself
    (`check_literal`) before each request.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.allowed = allowed_networks(tuple(allowed))

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [
            {"hostname": host, "host": address, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
             "family": socket.AF_INET6 if ":" in address else socket.AF_INET}
            for address in await vetted_addresses(host, port, self.allowed)
        ]

    async def close(self) -> None:
        return None


def check_literal(host: str, allowed: tuple[Network, ...]) -> None:
    """BlockedAddress if `host` is an IP literal the policy forbids (names go through GuardedResolver)."""
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        return
    reason = forbidden_reason(address, allowed)
    if reason:
        raise BlockedAddress(f"blocked: {host} is a {reason} address")
