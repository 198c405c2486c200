"""The sandbox CA: a root and an intermediate kept in the state directory, and leaf signing.

Keys are EC (root P-384, intermediate P-256): generating them is instant, so a fresh state directory
per test costs nothing, and signing is fast enough for hundreds of certificates per second. The
files are written once and reused on every start, so a restart keeps the same chain.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_ROOT_CERT = "root.pem"
_ROOT_KEY = "root.key"
_INT_CERT = "intermediate.pem"
_INT_KEY = "intermediate.key"
_ORG = "sectigo-operator sandbox"


@dataclass(frozen=True)
class LeafRequest:
    """What goes into an issued certificate."""

    public_key: CertificatePublicKeyTypes
    common_name: str
    dns_names: tuple[str, ...]
    emails: tuple[str, ...]
    not_before: dt.datetime
    not_after: dt.datetime
    client: bool
    serial: int


class CertificateAuthority:
    """Root + intermediate; signs leaves with the intermediate."""

    def __init__(
        self,
        root: x509.Certificate,
        intermediate: x509.Certificate,
        intermediate_key: CertificateIssuerPrivateKeyTypes,
    ) -> None:
        self.root = root
        self.intermediate = intermediate
        self._key = intermediate_key
        self._aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            intermediate_key.public_key()
        )

    def __repr__(self) -> str:
        return f"CertificateAuthority(root={self.root.subject.rfc4514_string()!r})"

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate]:
        """Issuers of every leaf, from the intermediate up: (intermediate, root)."""
        return (self.intermediate, self.root)

    def sign(self, req: LeafRequest) -> x509.Certificate:
        subject_attrs = []
        if req.common_name:
            subject_attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, req.common_name[:64]))
        if req.client and req.emails:
            subject_attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, req.emails[0]))
        general_names: list[x509.GeneralName] = []
        for name in req.dns_names:
            general_names.append(_dns_or_ip(name))
        general_names.extend(x509.RFC822Name(e) for e in req.emails)
        eku = (
            [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
            if req.client
            else [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        )
        is_ec = isinstance(req.public_key, ec.EllipticCurvePublicKey)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject_attrs))
            .issuer_name(self.intermediate.subject)
            .public_key(req.public_key)
            .serial_number(req.serial)
            .not_valid_before(req.not_before)
            .not_valid_after(req.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=not is_ec,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(self._aki, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(req.public_key), False)
        )
        if general_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(general_names), critical=False
            )
        return builder.sign(self._key, hashes.SHA256())


def _dns_or_ip(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def load_or_create_ca(directory: Path, now: dt.datetime | None = None) -> CertificateAuthority:
    """Load the CA from ``directory``, creating it (and the directory) on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / n for n in (_ROOT_CERT, _ROOT_KEY, _INT_CERT, _INT_KEY)]
    if not all(p.exists() for p in paths):
        _create(directory, now or dt.datetime.now(dt.UTC))
    root = x509.load_pem_x509_certificate((directory / _ROOT_CERT).read_bytes())
    intermediate = x509.load_pem_x509_certificate((directory / _INT_CERT).read_bytes())
    key = serialization.load_pem_private_key((directory / _INT_KEY).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the sandbox intermediate key must be an EC key")
    return CertificateAuthority(root, intermediate, key)


def _ca_cert(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    years: int,
    path_length: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
        .sign(signing_key, hashes.SHA384())
    )


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _create(directory: Path, now: dt.datetime) -> None:
    root_key = ec.generate_private_key(ec.SECP384R1())
    int_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Sandbox SCM Root CA")
    int_name = _name("Sandbox SCM Issuing CA")
    root = _ca_cert(root_name, root_name, root_key.public_key(), root_key, now, 20, 1)
    inter = _ca_cert(int_name, root_name, int_key.public_key(), root_key, now, 10, 0)
    _write_key(directory / _ROOT_KEY, root_key)
    _write_key(directory / _INT_KEY, int_key)
    (directory / _ROOT_CERT).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (directory / _INT_CERT).write_bytes(inter.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
