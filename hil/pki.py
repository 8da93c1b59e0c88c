"""Test certificates for OPC UA: self-signed application certificates and trust lists.

An OPC UA application certificate names the application URI in its subjectAltName, allows
signing and encryption, and says whether it serves or connects (extended key usage). Both
ends pin the other's certificate: the gateway's site file names the battery's certificate
(``server_certificate``), and the simulated battery trusts the certificates in its trust
directory. :func:`ensure_site_pki` creates any of these files a site names but lacks.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

GATEWAY_APPLICATION_URI = "urn:temix:gateway"
VALID_DAYS = 3650


@dataclass(frozen=True)
class CertificatePair:
    certificate: Path  # DER
    private_key: Path  # PEM, unencrypted, mode 0600


def make_application_certificate(certificate: Path, private_key: Path, *, common_name: str,
                                 application_uri: str, server: bool,
                                 host: str = "127.0.0.1") -> CertificatePair:
    """Write a self-signed OPC UA application certificate (DER) and its key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TeMIX gateway HIL")])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri),
                                         x509.DNSName("localhost"),
                                         x509.DNSName(socket.gethostname())]
    try:
        alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt_names.append(x509.DNSName(host))
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                     key_encipherment=True, data_encipherment=True,
                                     key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .sign(key, hashes.SHA256())
    )
    certificate.parent.mkdir(parents=True, exist_ok=True)
    private_key.parent.mkdir(parents=True, exist_ok=True)
    certificate.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    private_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.TraditionalOpenSSL,
                                              serialization.NoEncryption()))
    private_key.chmod(0o600)
    return CertificatePair(certificate, private_key)


def server_key_path(server_certificate: Path) -> Path:
    """Where the simulated server keeps the key of ``battery-cert.der``: ``battery-key.pem``."""
    stem = server_certificate.stem.removesuffix("-cert")
    return server_certificate.with_name(f"{stem}-key.pem")


def trust_directory(server_certificate: Path) -> Path:
    """The simulated server's trust list: client certificates it accepts."""
    stem = server_certificate.stem.removesuffix("-cert")
    return server_certificate.with_name(f"{stem}-trusted")


def trust(certificate: Path, directory: Path) -> Path:
    """Put a copy of ``certificate`` into a trust directory."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / certificate.name
    shutil.copyfile(certificate, target)
    return target


def ensure_pki(*, client_certificate: Path, client_key: Path, server_certificate: Path,
               server_uri: str, server_name: str) -> CertificatePair:
    """Create missing client/server certificates and trust the client; the server pair."""
    if not (client_certificate.exists() and client_key.exists()):
        make_application_certificate(client_certificate, client_key,
                                     common_name="temix-gateway",
                                     application_uri=GATEWAY_APPLICATION_URI, server=False)
    server_key = server_key_path(server_certificate)
    if not (server_certificate.exists() and server_key.exists()):
        make_application_certificate(server_certificate, server_key, common_name=server_name,
                                     application_uri=server_uri, server=True)
    trusted = trust_directory(server_certificate)
    if not (trusted / client_certificate.name).exists():
        trust(client_certificate, trusted)
    return CertificatePair(server_certificate, server_key)
