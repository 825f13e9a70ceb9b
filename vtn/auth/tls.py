"""Client certificates for the app: direct TLS (a uvicorn protocol subclass) or a trusted TLS proxy.

Application code reads the verified client certificate only from the ASGI TLS extension,
`scope["extensions"]["tls"]["client_cert_chain"][0]` (PEM). Two adapters fill it:

* `TLSHttpToolsProtocol` / `TLSH11Protocol`: uvicorn (0.54; pinned, this relies on its protocol
  classes) verifies the certificate during the handshake; the subclass copies the leaf into every
  request scope of the connection. Python < 3.13 exposes the leaf only, so the chain has one entry.
* `TrustedProxyCertMiddleware`: a TLS-terminating proxy (nginx, Envoy) verifies the certificate and
  forwards it in a header it always overwrites. The header is believed only when the TCP peer is a
  configured proxy address, and stripped otherwise. It must be the outermost middleware, and uvicorn
  must run with proxy headers off so that `scope["client"]` is the real TCP peer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ssl
from collections.abc import Callable
from ipaddress import ip_address, ip_network
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is optional
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
CLIENT_CERT_MODES = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL}


def _tls_extension(ssl_object: Any) -> dict[str, Any]:
    der = ssl_object.getpeercert(binary_form=True)  # verified by the handshake (or None)
    return {
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": None,
        "client_cert_error": None,
        "server_cert": None,
        "cipher_suite": None,
        "tls_version": TLS_VERSIONS.get(ssl_object.version() or ""),
    }


class _TLSExtensionMixin:
    """Wraps the per-connection app so each request scope carries the connection's certificate."""

    app: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        tls = _tls_extension(ssl_object)
        inner = self.app

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            extensions = scope.setdefault("extensions", {})
            extensions["tls"] = dict(tls)
            await inner(scope, receive, send)

        self.app = app


class TLSH11Protocol(_TLSExtensionMixin, H11Protocol):
    pass


if HttpToolsProtocol is not None:

    class TLSHttpToolsProtocol(_TLSExtensionMixin, HttpToolsProtocol):
        pass


def protocol_path() -> str:
    """The `http=` import path for uvicorn (an import string works with several workers)."""
    return "vtn.auth.tls:TLSHttpToolsProtocol" if HttpToolsProtocol is not None else "vtn.auth.tls:TLSH11Protocol"


def tls12_context_factory(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn `ssl_context_factory`: the default context with TLS 1.2 as the minimum version."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def uvicorn_ssl_options(tls_cert: str, tls_key: str, client_ca: str | None, client_cert: str) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` serving HTTPS (mTLS when `client_ca` is given)."""
    options: dict[str, Any] = {
        "ssl_certfile": tls_cert,
        "ssl_keyfile": tls_key,
        "ssl_context_factory": tls12_context_factory,
        "http": protocol_path(),
    }
    if client_ca:
        options["ssl_ca_certs"] = client_ca
        options["ssl_cert_reqs"] = CLIENT_CERT_MODES[client_cert]
    return options


# -- reading the certificate -------------------------------------------------------------------


def client_cert_pem(scope: Scope) -> str | None:
    tls = (scope.get("extensions") or {}).get("tls") or {}
    chain = tls.get("client_cert_chain") or []
    return chain[0] if chain else None


def client_cert_der(scope: Scope) -> bytes | None:
    pem = client_cert_pem(scope)
    return ssl.PEM_cert_to_DER_cert(pem) if pem else None


def thumbprint(der: bytes) -> str:
    """RFC 8705 `x5t#S256`: base64url (no padding) of the SHA-256 of the DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def client_cert(scope: Scope) -> x509.Certificate | None:
    der = client_cert_der(scope)
    return x509.load_der_x509_certificate(der) if der else None


def _normal_dn(name: x509.Name) -> list[str]:
    return [f"{attr.oid.dotted_string}={attr.value if isinstance(attr.value, str) else attr.value.hex()}".lower()
            for rdn in name.rdns for attr in sorted(rdn, key=lambda a: a.oid.dotted_string)]


def subject_dn_matches(cert: x509.Certificate, registered: str) -> bool:
    """The certificate subject equals the registered RFC 4514 DN (either RDN order, case-insensitive)."""
    try:
        wanted = _normal_dn(x509.Name.from_rfc4514_string(registered))
    except ValueError:
        return False
    actual = _normal_dn(cert.subject)
    return actual == wanted or actual == list(reversed(wanted))


def san_values(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    values = {f"dns:{v.lower()}" for v in san.get_values_for_type(x509.DNSName)}
    values |= {f"uri:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)}
    values |= {f"email:{v.lower()}" for v in san.get_values_for_type(x509.RFC822Name)}
    values |= {f"ip:{v}" for v in san.get_values_for_type(x509.IPAddress)}
    return values


def san_matches(cert: x509.Certificate, registered: str) -> bool:
    """A SAN equals the registered value: `DNS:x`, `URI:x`, `email:x`, `IP:x`, or a bare value of any type."""
    actual = san_values(cert)
    kind, sep, value = registered.strip().partition(":")
    if sep and kind.lower() in {"dns", "uri", "email", "ip"}:
        kind = kind.lower()
        value = value if kind == "uri" else value.lower()
        return f"{kind}:{value}" in actual
    bare = registered.strip()
    return any(item.partition(":")[2] in {bare, bare.lower()} for item in actual)


def cert_matches_client(cert: x509.Certificate, subject_dn: str | None, san: str | None) -> bool:
    """RFC 8705 §2.1.2: the registered subject DN or SAN (either suffices) matches the certificate."""
    return bool((subject_dn and subject_dn_matches(cert, subject_dn)) or (san and san_matches(cert, san)))


# -- the trusted proxy -----------------------------------------------------------------------------


class MalformedCertHeader(ValueError):
    pass


def parse_cert_header(value: str) -> str:
    """PEM from a proxy header: URL-encoded PEM (nginx `$ssl_client_escaped_cert`), plain PEM,
    or RFC 9440 `:base64-DER:`. Raises `MalformedCertHeader`."""
    value = value.strip()
    try:
        if value.startswith(":") and value.endswith(":") and len(value) > 2:
            der = base64.b64decode(value[1:-1], validate=True)
        else:
            pem = unquote(value) if "%" in value else value
            der = ssl.PEM_cert_to_DER_cert(pem.strip())
        x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCertHeader("the forwarded client certificate header is malformed") from exc
    return ssl.DER_cert_to_PEM_cert(der)


class TrustedProxyCertMiddleware:
    """Outermost: takes the client certificate from `header` only when the TCP peer is a trusted proxy.

    From any other peer the header is removed, so nothing below can be fooled by it. A header from a
    trusted proxy that does not parse is answered 400 (problem+json).
    """

    def __init__(self, app: ASGIApp, header: str, trusted_proxies: list[str]) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.networks = [ip_network(n, strict=False) for n in trusted_proxies]

    def _trusted(self, scope: Scope) -> bool:
        client = scope.get("client")
        if not client:
            return False
        try:
            address = ip_address(client[0])
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k.lower() == self.header]
        if not values:
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != self.header]
        if self._trusted(scope):
            try:
                if len(values) != 1:
                    raise MalformedCertHeader("the forwarded client certificate header is repeated")
                raw = values[0].decode("latin-1").strip()
                pem = parse_cert_header(raw) if raw and raw != "(null)" else None  # empty: no certificate
            except MalformedCertHeader as exc:
                from vtn.core.errors import problem_response  # here: the TLS adapters above need no server extra

                await problem_response(400, str(exc))(scope, receive, send)
                return
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {**(extensions.get("tls") or {}), "client_cert_chain": [pem] if pem else []}
            scope["extensions"] = extensions
        await self.app(scope, receive, send)
