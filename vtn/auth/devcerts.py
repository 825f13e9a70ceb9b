"""A development PKI: a CA, a server certificate for loopback, and client certificates (never for production)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825


@dataclass
class Issued:
    name: str
    cert_path: Path
    key_path: Path
    subject_dn: str  # RFC 4514, as `vtn clients add --cert-subject-dn` expects


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write(out: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = out / f"{stem}.pem", out / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


class DevCA:
    def __init__(self, out: Path, organisation: str = "OpenADR VTN development") -> None:
        self.out = out
        self.organisation = organisation
        out.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name("VTN development CA", organisation)
        self.cert = (
            _builder(self.name, self.name, self.key.public_key(), VALID_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path, self.key_path = _write(out, "ca", self.cert, self.key)

    def issue(self, stem: str, common_name: str, *, server: bool, sans: list[x509.GeneralName]) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name(common_name, self.organisation)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (
            _builder(subject, self.name, key.public_key(), VALID_DAYS)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = _write(self.out, stem, cert, key)
        return Issued(common_name, cert_path, key_path, subject.rfc4514_string())

    def server(self, hosts: list[str]) -> Issued:
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        return self.issue("server", hosts[0] if hosts else "localhost", server=True, sans=sans)

    def client(self, name: str) -> Issued:
        """A client certificate with CN=name and SAN DNS:name."""
        return self.issue(f"client-{name}", name, server=False, sans=[x509.DNSName(name)])


def make_dev_pki(out: Path, ven: str = "ven-1", bl: str = "bl-1",
                 hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[DevCA, Issued, list[Issued]]:
    ca = DevCA(out)
    server = ca.server(list(hosts))
    return ca, server, [ca.client(ven), ca.client(bl)]
