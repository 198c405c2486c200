"""Pure PKI helpers: keys, CSRs, certificate chains and the output formats of the Secret.

Used by the issuance controller (key and CSR generation, checking a supplied key or CSR, turning
what SCM's collect returns into `tls.crt` / `tls.key` / `ca.crt`) and by the renewal policies
(`CertInfo`). Depends on `cryptography` only: no kopf, kubernetes or httpx imports, no I/O, no
clock reads except where a caller leaves `now` out of `verify_chain`.

Key generation is CPU-bound (RSA-4096 takes seconds): async callers run `generate_private_key`
through `asyncio.to_thread`.

Error hierarchy (messages name what is wrong and never contain key or certificate material)::

    PkiError
     +-- InvalidKey            unreadable, encrypted or unsupported private key / key spec
     +-- InvalidCsr            undecodable CSR, bad signature, or an unbuildable CsrRequest
     +-- KeyMismatch           a private key does not belong to a CSR or certificate
     +-- InvalidCertificate    undecodable certificate data, or none found
     +-- ChainError            certificates that do not form one chain, or fail verification
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
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

__all__ = [
    "CertInfo",
    "Chain",
    "ChainError",
    "CsrInfo",
    "CsrRequest",
    "InvalidCertificate",
    "InvalidCsr",
    "InvalidKey",
    "KeyAlgorithm",
    "KeyEncoding",
    "KeyMismatch",
    "KeySpec",
    "PkiError",
    "PrivateKey",
    "PublicKey",
    "build_csr",
    "ca_pem",
    "cert_info",
    "cert_matches_key",
    "chain_to_pem",
    "check_key_matches",
    "csr_for_scm",
    "csr_info",
    "csr_matches_key",
    "generate_private_key",
    "key_spec_of",
    "key_type_allowed",
    "load_csr",
    "load_private_key",
    "normalize_serial",
    "order_chain",
    "parse_pem_chain",
    "private_key_to_pem",
    "scm_key_type",
    "verify_chain",
]

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class PkiError(Exception):
    """Base of every error raised by this module. Messages never contain key material."""


class InvalidKey(PkiError):
    """A private key (or key spec) that cannot be read or is not supported."""


class InvalidCsr(PkiError):
    """A CSR that cannot be decoded or verified, or a CsrRequest that cannot be built."""


class KeyMismatch(PkiError):
    """A private key that does not belong to the CSR or certificate it is used with."""


class InvalidCertificate(PkiError):
    """Certificate data that cannot be decoded, or that holds no certificate."""


class ChainError(PkiError):
    """Certificates that do not form a single chain, or a chain that fails verification."""


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

KeyAlgorithm: TypeAlias = Literal["RSA", "ECDSA"]
KeyEncoding: TypeAlias = Literal["PKCS1", "PKCS8"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

RSA_SIZES: Final = (2048, 3072, 4096)
ECDSA_SIZES: Final = (256, 384, 521)
_CURVES: Final[dict[int, type[ec.EllipticCurve]]] = {
    256: ec.SECP256R1,
    384: ec.SECP384R1,
    521: ec.SECP521R1,
}
_CURVE_SIZES: Final = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}
_SignatureHash: TypeAlias = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
_EC_HASHES: Final[dict[int, type[_SignatureHash]]] = {
    256: hashes.SHA256,
    384: hashes.SHA384,
    521: hashes.SHA512,
}


@dataclass(frozen=True)
class KeySpec:
    """Algorithm and size of a key: RSA 2048/3072/4096 or ECDSA 256/384/521 (P-256/P-384/P-521).

    Raises `InvalidKey` on construction for any other combination.
    """

    algorithm: KeyAlgorithm
    size: int

    def __post_init__(self) -> None:
        allowed = RSA_SIZES if self.algorithm == "RSA" else ECDSA_SIZES
        if self.algorithm not in ("RSA", "ECDSA") or self.size not in allowed:
            raise InvalidKey(
                f"unsupported key spec {self.algorithm} {self.size}: supported are "
                f"RSA {'/'.join(map(str, RSA_SIZES))} and ECDSA {'/'.join(map(str, ECDSA_SIZES))}"
            )

    def scm_key_type(self) -> tuple[str, str]:
        """The SCM profile `keyTypes` form: ("RSA", "2048") or ("EC", "P-256")."""
        if self.algorithm == "RSA":
            return ("RSA", str(self.size))
        return ("EC", f"P-{self.size}")

    def __str__(self) -> str:
        return f"{self.algorithm} {self.size}"


def generate_private_key(spec: KeySpec) -> PrivateKey:
    """A fresh private key for `spec`. CPU-bound: call it off the event loop."""
    if spec.algorithm == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)
    return ec.generate_private_key(_CURVES[spec.size]())


def private_key_to_pem(key: PrivateKey, encoding: KeyEncoding = "PKCS1") -> bytes:
    """The key as unencrypted PEM for the `tls.key` of a kubernetes.io/tls Secret.

    "PKCS1" is the traditional form: `RSA PRIVATE KEY` for RSA and SEC1 `EC PRIVATE KEY` for
    ECDSA (as cert-manager does); "PKCS8" is `PRIVATE KEY` for both.
    """
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if encoding == "PKCS1"
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def load_private_key(pem: bytes | str, *, trusted: bool = False) -> PrivateKey:
    """An RSA or ECDSA private key from unencrypted PEM (PKCS#1, SEC1 or PKCS#8).

    ``trusted`` skips OpenSSL's RSA consistency check (30-200 ms) for keys this operator made
    itself and stored; whether a key fits its certificate is checked separately anyway.
    Raises `InvalidKey`; the message says what is wrong, never what the data was.
    """
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=trusted
        )
    except TypeError:
        raise InvalidKey("private key is encrypted; an unencrypted PEM key is required") from None
    except UnsupportedAlgorithm:
        raise InvalidKey("private key uses an unsupported algorithm") from None
    except ValueError:
        raise InvalidKey(
            "private key could not be read: expected an unencrypted PEM RSA or ECDSA key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKey(
            f"private key type {type(key).__name__} is not supported: RSA or ECDSA required"
        )
    return key


def key_spec_of(key: PublicKey | PrivateKey) -> KeySpec:
    """The KeySpec of a public (or private) key; `InvalidKey` for unsupported sizes or curves."""
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return KeySpec("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        size = _CURVE_SIZES.get(key.curve.name)
        if size is None:
            raise InvalidKey(f"unsupported elliptic curve {key.curve.name}: P-256/P-384/P-521")
        return KeySpec("ECDSA", size)
    raise InvalidKey(f"unsupported key type {type(key).__name__}: RSA or ECDSA required")


def scm_key_type(key: PublicKey | PrivateKey) -> tuple[str, str]:
    """("RSA", "2048") or ("EC", "P-256"): the shape of SCM profile `keyTypes` maps."""
    return key_spec_of(key).scm_key_type()


def key_type_allowed(key_types: Mapping[str, Sequence[str]], spec: KeySpec) -> bool:
    """Whether an SCM profile's `keyTypes` (e.g. {"RSA": ["2048"], "EC": ["P-256"]}) allows spec.

    Tolerant of spelling: algorithm keys "EC"/"ECC"/"ECDSA" in any case, curve sizes written
    "P-256", "P256", "secp256r1"/"prime256v1" or "256".
    """
    aliases = {"RSA"} if spec.algorithm == "RSA" else {"EC", "ECC", "ECDSA"}
    for algorithm, sizes in key_types.items():
        if algorithm.strip().upper() not in aliases:
            continue
        for size in sizes:
            digits = re.findall(r"\d+", size)
            if digits and digits[0] == str(spec.size):
                return True
    return False


def _public_der(key: CertificatePublicKeyTypes | PrivateKey) -> bytes:
    """SubjectPublicKeyInfo DER of a public key, or of a private key's public half."""
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _supported_public_key(item: x509.Certificate | x509.CertificateSigningRequest) -> PublicKey:
    key = item.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InvalidKey(f"unsupported public key type {type(key).__name__}: RSA or ECDSA required")
    return key


# --------------------------------------------------------------------------------------------
# CSRs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsrRequest:
    """What to put into a CSR. Empty strings and tuples are left out of the subject.

    All `email_addresses` become rfc822Name SANs; the first one is also the subject's
    emailAddress (what client/S-MIME certificates expect). `ip_addresses` are textual IPv4 or
    IPv6 addresses; `countries` are two-letter codes.
    """

    common_name: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()
    organizational_units: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    localities: tuple[str, ...] = ()
    street_addresses: tuple[str, ...] = ()
    postal_codes: tuple[str, ...] = ()
    serial_number: str = ""


@dataclass(frozen=True)
class CsrInfo:
    """What a CSR asks for. `email_addresses` joins subject emailAddress and rfc822Name SANs."""

    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    email_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    key_spec: KeySpec


def _subject(request: CsrRequest) -> x509.Name:
    attributes: list[x509.NameAttribute[str]] = []

    def add(oid: x509.ObjectIdentifier, values: Iterable[str], label: str) -> None:
        for value in values:
            if not value:
                continue
            try:
                attributes.append(x509.NameAttribute(oid, value))
            except ValueError as error:
                raise InvalidCsr(f"invalid {label} {value!r}: {error}") from None

    add(NameOID.COUNTRY_NAME, request.countries, "country (two-letter code)")
    add(NameOID.STATE_OR_PROVINCE_NAME, request.provinces, "province")
    add(NameOID.LOCALITY_NAME, request.localities, "locality")
    add(NameOID.STREET_ADDRESS, request.street_addresses, "street address")
    add(NameOID.POSTAL_CODE, request.postal_codes, "postal code")
    add(NameOID.ORGANIZATION_NAME, request.organizations, "organization")
    add(NameOID.ORGANIZATIONAL_UNIT_NAME, request.organizational_units, "organizational unit")
    add(NameOID.COMMON_NAME, [request.common_name], "common name")
    add(NameOID.SERIAL_NUMBER, [request.serial_number], "serial number")
    add(NameOID.EMAIL_ADDRESS, request.email_addresses[:1], "e-mail address")
    return x509.Name(attributes)


def _general_names(request: CsrRequest) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for dns in request.dns_names:
        if not dns.isascii():
            raise InvalidCsr(f"DNS name {dns!r} is not ASCII: use its punycode (xn--) form")
        names.append(x509.DNSName(dns))
    for ip in request.ip_addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(ip.strip())))
        except ValueError:
            raise InvalidCsr(f"invalid IP address {ip!r}") from None
    for uri in request.uris:
        if not uri.isascii():
            raise InvalidCsr(f"URI {uri!r} is not ASCII")
        names.append(x509.UniformResourceIdentifier(uri))
    for email in request.email_addresses:
        if not email.isascii() or "@" not in email:
            raise InvalidCsr(f"invalid e-mail address {email!r}")
        names.append(x509.RFC822Name(email))
    return names


def _signature_hash(key: PrivateKey) -> _SignatureHash:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return _EC_HASHES[key_spec_of(key).size]()
    return hashes.SHA256()


def check_csr_request(request: CsrRequest) -> None:
    """Raise InvalidCsr when the subject of ``request`` cannot be encoded (no key needed)."""
    _subject(request)


def build_csr(key: PrivateKey, request: CsrRequest) -> str:
    """A PKCS#10 CSR for `request`, signed with `key`, as PEM text.

    Signature hash: SHA-256 for RSA and P-256, SHA-384 for P-384, SHA-512 for P-521.
    Raises `InvalidCsr` for malformed names, `InvalidKey` for an unsupported key.
    """
    key_spec_of(key)
    subject = _subject(request)
    names = _general_names(request)
    if not names and not subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise InvalidCsr("CSR request has neither a common name nor subject alternative names")
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        # RFC 5280 4.2.1.6: the SAN extension is critical when the subject is empty.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=len(subject) == 0
        )
    csr = builder.sign(key, _signature_hash(key))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_CSR_LABELS: Final = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


def load_csr(text: str | bytes) -> x509.CertificateSigningRequest:
    """A CSR from any shape SCM accepts: PEM, PEM with its newlines removed, or bare base64.

    The CSR's self-signature is checked. Raises `InvalidCsr`; an unsupported key type is
    reported later, by `csr_info` (`InvalidKey`).
    """
    raw = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    raw = raw.strip()
    if not raw:
        raise InvalidCsr("CSR is empty")
    if "-----BEGIN" in raw:
        match = _PEM_BLOCK.search(raw)
        if match is None:
            raise InvalidCsr("CSR PEM armor is incomplete (BEGIN without a matching END line)")
        if match["label"] not in _CSR_LABELS:
            raise InvalidCsr(
                f"CSR PEM block is labelled {match['label']!r}, expected 'CERTIFICATE REQUEST'"
            )
        body = match["body"]
    else:
        body = raw
    try:
        der_bytes = base64.b64decode(re.sub(r"\s+", "", body), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCsr("CSR is not valid base64") from None
    try:
        csr = x509.load_der_x509_csr(der_bytes)
    except ValueError:
        raise InvalidCsr("CSR could not be decoded as a PKCS#10 certificate request") from None
    try:
        valid = csr.is_signature_valid
    except UnsupportedAlgorithm:
        raise InvalidCsr("CSR uses an unsupported signature algorithm") from None
    if not valid:
        raise InvalidCsr("CSR signature is invalid (the CSR was altered or is corrupt)")
    return csr


def csr_for_scm(csr: str | bytes | x509.CertificateSigningRequest) -> str:
    """The CSR as SCM's reference example sends it: PEM armor kept, `\\n` line breaks."""
    parsed = csr if isinstance(csr, x509.CertificateSigningRequest) else load_csr(csr)
    return parsed.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _names_of(
    subject: x509.Name, extensions: x509.Extensions
) -> tuple[str | None, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(common name, dns names, ips, e-mails, uris) of a subject and its SAN extension."""
    common_names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(common_names[0].value) if common_names else None
    emails = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name, (), (), tuple(emails), ()
    dns = tuple(san.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    emails += [e for e in san.get_values_for_type(x509.RFC822Name) if e not in emails]
    uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
    return common_name, dns, ips, tuple(emails), uris


def csr_info(csr: x509.CertificateSigningRequest) -> CsrInfo:
    """Names and key spec a CSR asks for.

    Raises `InvalidCsr` for undecodable extensions, `InvalidKey` for an unsupported key.
    """
    try:
        cn, dns, ips, emails, uris = _names_of(csr.subject, csr.extensions)
    except ValueError:
        raise InvalidCsr("CSR subject or extensions could not be decoded") from None
    return CsrInfo(cn, dns, ips, emails, uris, key_spec_of(_supported_public_key(csr)))


def csr_matches_key(csr: x509.CertificateSigningRequest, key: PrivateKey) -> bool:
    """Whether `key` is the private half of the CSR's public key."""
    return _public_der(csr.public_key()) == _public_der(key)


def check_key_matches(
    item: x509.CertificateSigningRequest | x509.Certificate, key: PrivateKey
) -> None:
    """Raise `KeyMismatch` unless `key` belongs to the CSR or certificate `item`."""
    matches = _public_der(item.public_key()) == _public_der(key)
    if matches:
        return
    what = "CSR" if isinstance(item, x509.CertificateSigningRequest) else "certificate"
    cn, *_ = _names_of(item.subject, item.extensions)
    try:
        theirs = str(key_spec_of(_supported_public_key(item)))
    except InvalidKey:
        theirs = "an unsupported key"
    raise KeyMismatch(
        f"the private key ({key_spec_of(key)}) does not match the public key ({theirs}) "
        f"of the {what} for CN={cn or '<none>'}"
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
    if cert.issuer != issuer.subject:
        return False
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
    unique: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        unique.setdefault(_fingerprint(cert), cert)
    pool = list(unique.values())
    if not pool:
        raise ChainError("no certificates to order")

    def issuer_of(cert: x509.Certificate) -> x509.Certificate | None:
        for other in pool:
            if other is not cert and _directly_issued_by(cert, other):
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
