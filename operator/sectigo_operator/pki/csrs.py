"""CSRs: building one from a CsrRequest, loading a supplied one, what it asks for, key matching."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .errors import InvalidCsr, InvalidKey, KeyMismatch
from .keys import (
    _EC_HASHES,
    KeySpec,
    PrivateKey,
    _public_der,
    _SignatureHash,
    _supported_public_key,
    key_spec_of,
)

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
    subject_email: str = ""
    """The subject's emailAddress when it is not the first of ``email_addresses``."""


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
    subject_email = [request.subject_email] if request.subject_email else request.email_addresses
    add(NameOID.EMAIL_ADDRESS, subject_email[:1], "e-mail address")
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
    """Raise InvalidCsr when the subject or the alternative names of ``request`` cannot be
    encoded (no key needed: checked before one is made)."""
    subject = _subject(request)
    if not _general_names(request) and not subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        raise InvalidCsr("CSR request has neither a common name nor subject alternative names")


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
