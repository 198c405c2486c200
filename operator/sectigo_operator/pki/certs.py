"""Certificates: parsing PEM/DER/PKCS#7 chains, ordering and verifying them, CertInfo, PEM
output."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .csrs import (
    _names_of,
)
from .errors import ChainError, InvalidCertificate, InvalidKey
from .keys import (
    KeySpec,
    PrivateKey,
    _public_der,
    _supported_public_key,
    key_spec_of,
)

# --------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """A certificate chain in order: the leaf, its issuers (leaf's issuer first), the root.

    `root` is a self-signed certificate, or None when the input stopped below the root.
    """

    leaf: x509.Certificate
    intermediates: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None


@dataclass(frozen=True)
class CertInfo:
    """What the operator needs to know about an issued certificate.

    `serial_number` is upper-case colon-separated hex as SCM shows it ("0A:3E:C0");
    `fingerprint_sha256` is lower-case hex without separators; dates are aware UTC datetimes;
    `email_addresses` joins subject emailAddress and rfc822Name SANs; `key_spec` is None for a
    key this operator does not generate.
    """

    serial_number: str
    fingerprint_sha256: str
    not_before: dt.datetime
    not_after: dt.datetime
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    email_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    issuer_common_name: str | None
    key_spec: KeySpec | None


def normalize_serial(serial: int | str) -> str:
    """A serial as upper-case colon-separated hex bytes, from an int or any hex spelling.

    "a93ec0", "A9:3E:C0" and "00:A9:3E:C0" all give "A9:3E:C0", so SCM's `serialNumber`
    can be compared with a certificate's serial.
    """
    if isinstance(serial, str):
        digits = re.sub(r"[\s:]", "", serial)
        try:
            serial = int(digits, 16)
        except ValueError:
            raise InvalidCertificate(f"serial number {serial!r} is not hexadecimal") from None
    text = f"{serial:X}"
    if len(text) % 2:
        text = "0" + text
    return ":".join(text[i : i + 2] for i in range(0, len(text), 2))


def parse_pem_chain(data: str | bytes) -> list[x509.Certificate]:
    """Every certificate in PEM certificates, PEM PKCS#7 (`BEGIN PKCS7`), DER PKCS#7 or DER.

    The order of the input is kept. Raises `InvalidCertificate` when nothing can be decoded.
    """
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        if b"-----BEGIN PKCS7-----" in raw:
            certs = pkcs7.load_pem_pkcs7_certificates(raw)
        elif b"-----BEGIN" in raw:
            certs = x509.load_pem_x509_certificates(raw)
        else:
            certs = _load_der_certificates(raw)
    except ValueError:
        raise InvalidCertificate(
            "no certificate could be decoded (expected PEM, PKCS#7 or DER)"
        ) from None
    if not certs:
        raise InvalidCertificate("no certificate found")
    return certs


def _load_der_certificates(raw: bytes) -> list[x509.Certificate]:
    try:
        return pkcs7.load_der_pkcs7_certificates(raw)
    except ValueError:
        return [x509.load_der_x509_certificate(raw)]


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def _directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    return cert.issuer == issuer.subject and _signed_by(cert, issuer)


@functools.lru_cache(maxsize=256)
def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Does ``issuer``'s key verify ``cert``'s signature? Remembered per pair (certificates
    hash and compare by their DER): every chain of a fleet repeats the same intermediate and
    root, and verifying a P-384 root's signature costs about a millisecond each time."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _is_self_signed(cert: x509.Certificate) -> bool:
    return _directly_issued_by(cert, cert)


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {normalize_serial(cert.serial_number)}"


def order_chain(certs: Sequence[x509.Certificate]) -> Chain:
    """Order certificates given in any order (SCM `x509` is root-first, `x509R` leaf-first).

    Issuers are found by name and signature. Duplicates are dropped. Raises `ChainError` for an
    empty input, more than one possible leaf, or certificates outside the leaf's chain.
    """
    pool = list(dict.fromkeys(certs))  # certificates compare and hash by their DER
    if not pool:
        raise ChainError("no certificates to order")
    # Each certificate's names once (cryptography builds a Name object at every access).
    subjects = {id(cert): cert.subject for cert in pool}

    def issuer_of(cert: x509.Certificate) -> x509.Certificate | None:
        wanted = cert.issuer
        for other in pool:
            if other is not cert and subjects[id(other)] == wanted and _signed_by(cert, other):
                return other
        return None

    issuers = {id(cert): issuer_of(cert) for cert in pool}
    issuing = {id(i) for i in issuers.values() if i is not None}
    leaves = [cert for cert in pool if id(cert) not in issuing]
    if len(leaves) != 1:
        # A self-signed certificate alone, or a set with several end entities.
        if not leaves and len(pool) == 1:
            return Chain(leaf=pool[0])
        names = ", ".join(_describe(c) for c in leaves) or "none (issuers form a loop)"
        raise ChainError(f"certificates do not form a single chain: possible leaves {names}")
    leaf = leaves[0]
    path: list[x509.Certificate] = []
    seen = {id(leaf)}
    current = issuers[id(leaf)]
    while current is not None and id(current) not in seen:
        path.append(current)
        seen.add(id(current))
        current = issuers[id(current)]
    extra = [c for c in pool if id(c) not in seen]
    if extra:
        names = ", ".join(_describe(c) for c in extra)
        raise ChainError(f"certificates not in the chain of {_describe(leaf)}: {names}")
    root = path.pop() if path and _is_self_signed(path[-1]) else None
    return Chain(leaf=leaf, intermediates=tuple(path), root=root)


def cert_info(cert: x509.Certificate) -> CertInfo:
    """The fields of `cert` that issuance and renewal decisions use."""
    try:
        cn, dns, ips, emails, uris = _names_of(cert.subject, cert.extensions)
        issuer_cns = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        raise InvalidCertificate("certificate subject or extensions could not be decoded") from None
    try:
        key_spec: KeySpec | None = key_spec_of(_supported_public_key(cert))
    except (InvalidKey, UnsupportedAlgorithm):
        key_spec = None
    return CertInfo(
        serial_number=normalize_serial(cert.serial_number),
        fingerprint_sha256=_fingerprint(cert).hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        common_name=cn,
        dns_names=dns,
        ip_addresses=ips,
        email_addresses=emails,
        uris=uris,
        issuer_common_name=str(issuer_cns[0].value) if issuer_cns else None,
        key_spec=key_spec,
    )


def cert_matches_key(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether `key` is the private half of the certificate's public key."""
    return _public_der(cert.public_key()) == _public_der(key)


def _require_ca(_policy: Policy, cert: x509.Certificate, bc: x509.BasicConstraints) -> None:
    if not bc.ca:
        raise ValueError(f"{_describe(cert)} is used as an issuer but is not a CA")


def _require_cert_sign(
    _policy: Policy, cert: x509.Certificate, usage: x509.KeyUsage | None
) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError(f"{_describe(cert)} is used as an issuer but may not sign certificates")


# CA certificates: basicConstraints CA required, keyCertSign required if keyUsage is present
# (RFC 5280, as OpenSSL checks it); the stricter CA/B Forum profile would reject small private
# CAs. End-entity certificates: any extensions, any EKU, so one check fits TLS and S/MIME.
_CA_POLICY: Final = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _require_ca)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _require_cert_sign)
)
_EE_POLICY: Final = ExtensionPolicy.permit_all()


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    now: dt.datetime | None = None,
) -> None:
    """Raise `ChainError` unless `leaf` chains through `intermediates` to one of `roots`.

    Checks signatures, validity periods at `now` (default: the current time), CA flags and path
    length, with cryptography's path builder. Purpose-agnostic: the leaf's names and extended
    key usage are not checked (compare `cert_info` with the request for that).
    """
    if not roots:
        raise ChainError("no trusted root certificate to verify against")
    when = now if now is not None else dt.datetime.now(dt.UTC)
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(when)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, list(intermediates))
    except VerificationError as error:
        raise ChainError(f"chain of {_describe(leaf)} does not verify: {error}") from None


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def chain_to_pem(chain: Chain, include_root: bool = False) -> str:
    """`tls.crt`: the leaf, then its intermediates (and the root when asked)."""
    certs = [chain.leaf, *chain.intermediates]
    if include_root and chain.root is not None:
        certs.append(chain.root)
    return "".join(_pem(c) for c in certs)


def ca_pem(chain: Chain) -> str | None:
    """`ca.crt`: the root, else the top-most intermediate; None for a lone leaf."""
    if chain.root is not None:
        return _pem(chain.root)
    if chain.intermediates:
        return _pem(chain.intermediates[-1])
    return None
