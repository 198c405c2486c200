"""Unit tests of sectigo_operator.pki: keys, CSRs, chains, verification and output formats.

Test CAs are built here with cryptography (ECDSA P-256, so they are fast); nothing touches the
network or the clock except through the explicit `NOW` below.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import ipaddress
import itertools
import re
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sectigo_operator import outputs, pki

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


@functools.cache
def key_for(spec: pki.KeySpec) -> pki.PrivateKey:
    """One generated key per spec for the whole module (RSA-4096 takes a while)."""
    return pki.generate_private_key(spec)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    key: pki.PrivateKey,
    issuer: tuple[x509.Certificate, pki.PrivateKey] | None,
    *,
    ca: bool,
    sans: list[x509.GeneralName] | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    subject: x509.Name | None = None,
    serial: int | None = None,
    not_before: dt.datetime = NOW - 30 * DAY,
    not_after: dt.datetime = NOW + 30 * DAY,
) -> x509.Certificate:
    """A certificate for `key`; self-signed when `issuer` is None."""
    issuer_name = issuer[0].subject if issuer else (subject or name(cn))
    signer = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
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
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(signer, hashes.SHA256())


class Pki:
    """A small hierarchy: root -> inter1 -> inter2 -> leaf, plus a TLS and an S/MIME leaf."""

    def __init__(self, root_cn: str = "Test Root") -> None:
        self.root_key, self.inter1_key, self.inter2_key = ec_key(), ec_key(), ec_key()
        self.root = make_cert(root_cn, self.root_key, None, ca=True)
        self.inter1 = make_cert(
            "Test Inter 1", self.inter1_key, (self.root, self.root_key), ca=True
        )
        self.inter2 = make_cert(
            "Test Inter 2", self.inter2_key, (self.inter1, self.inter1_key), ca=True
        )
        self.leaf_key = ec_key()
        self.leaf = self.issue(self.leaf_key, "www.example.com")

    def issue(
        self,
        key: pki.PrivateKey,
        cn: str,
        *,
        smime: bool = False,
        not_before: dt.datetime = NOW - DAY,
        not_after: dt.datetime = NOW + 10 * DAY,
    ) -> x509.Certificate:
        if smime:
            sans: list[x509.GeneralName] = [x509.RFC822Name(cn)]
            eku = [ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]
        else:
            sans, eku = [x509.DNSName(cn)], [ExtendedKeyUsageOID.SERVER_AUTH]
        return make_cert(
            cn,
            key,
            (self.inter2, self.inter2_key),
            ca=False,
            sans=sans,
            eku=eku,
            not_before=not_before,
            not_after=not_after,
        )


@pytest.fixture(scope="module")
def test_pki() -> Pki:
    return Pki()


def pem_of(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def assert_no_material(message: str, *sources: str | bytes) -> None:
    """No PEM armor and no 16-character run of any source's base64 body in `message`."""
    assert "-----BEGIN" not in message and "PRIVATE KEY" not in message
    for source in sources:
        text = source.decode("latin-1") if isinstance(source, bytes) else source
        body = re.sub(r"-----[A-Z0-9 ]+-----|\s", "", text)
        for start in range(0, max(len(body) - 16, 0), 8):
            assert body[start : start + 16] not in message


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------

ALL_SPECS = [
    pytest.param(pki.KeySpec("RSA", 2048), ("RSA", "2048"), id="RSA-2048"),
    pytest.param(pki.KeySpec("RSA", 3072), ("RSA", "3072"), id="RSA-3072"),
    pytest.param(pki.KeySpec("RSA", 4096), ("RSA", "4096"), id="RSA-4096"),
    pytest.param(pki.KeySpec("ECDSA", 256), ("EC", "P-256"), id="ECDSA-P256"),
    pytest.param(pki.KeySpec("ECDSA", 384), ("EC", "P-384"), id="ECDSA-P384"),
    pytest.param(pki.KeySpec("ECDSA", 521), ("EC", "P-521"), id="ECDSA-P521"),
]


@pytest.mark.parametrize(("spec", "scm_type"), ALL_SPECS)
def test_every_key_spec_generates_and_round_trips(
    spec: pki.KeySpec, scm_type: tuple[str, str]
) -> None:
    key = key_for(spec)
    assert pki.key_spec_of(key) == spec
    assert pki.key_spec_of(key.public_key()) == spec
    assert pki.scm_key_type(key.public_key()) == scm_type
    assert spec.scm_key_type() == scm_type
    traditional = "RSA PRIVATE KEY" if spec.algorithm == "RSA" else "EC PRIVATE KEY"
    for encoding, header in (("PKCS1", traditional), ("PKCS8", "PRIVATE KEY")):
        pem = pki.private_key_to_pem(key, encoding)  # type: ignore[arg-type]
        assert pem.startswith(f"-----BEGIN {header}-----\n".encode())
        loaded = pki.load_private_key(pem)
        assert pki.key_spec_of(loaded) == spec
        assert pki.private_key_to_pem(loaded, "PKCS8") == pki.private_key_to_pem(key, "PKCS8")
    assert pki.load_private_key(pki.private_key_to_pem(key).decode()).public_key() == (
        key.public_key()
    )


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [
        pytest.param("RSA", 1024, id="RSA-1024 too small"),
        pytest.param("RSA", 256, id="RSA with an EC size"),
        pytest.param("ECDSA", 2048, id="ECDSA with an RSA size"),
        pytest.param("ECDSA", 255, id="ECDSA unknown curve"),
        pytest.param("DSA", 2048, id="unknown algorithm"),
    ],
)
def test_unsupported_key_spec_is_rejected(algorithm: str, size: int) -> None:
    with pytest.raises(pki.InvalidKey, match="unsupported key spec"):
        pki.KeySpec(algorithm, size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(
            rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 (must be refused)
            "unsupported key spec RSA 1024",
            id="RSA-1024",
        ),
        pytest.param(
            ec.generate_private_key(ec.SECP256K1()), "unsupported elliptic curve", id="secp256k1"
        ),
    ],
)
def test_key_spec_of_unsupported_keys(key: pki.PrivateKey, message: str) -> None:
    with pytest.raises(pki.InvalidKey, match=message):
        pki.key_spec_of(key)


def _encrypted_pem() -> bytes:
    return ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret-passphrase"),
    )


def _ed25519_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _truncated_pem() -> bytes:
    pem = pki.private_key_to_pem(ec_key())
    return pem[:60] + pem[-30:]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "could not be read", id="empty"),
        pytest.param(b"not a key at all", "could not be read", id="garbage"),
        pytest.param(_truncated_pem(), "could not be read", id="truncated PEM"),
        pytest.param(_encrypted_pem(), "encrypted", id="encrypted"),
        pytest.param(_ed25519_pem(), "not supported", id="Ed25519"),
        pytest.param(
            pem_of(Pki().root).encode(), "could not be read", id="a certificate, not a key"
        ),
    ],
)
def test_load_private_key_errors_name_the_problem_without_key_material(
    data: bytes, message: str
) -> None:
    with pytest.raises(pki.InvalidKey, match=message) as caught:
        pki.load_private_key(data)
    assert_no_material(str(caught.value), data)
    # no chained cryptography exception whose text a traceback would print
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(
    ("key_types", "spec", "allowed"),
    [
        pytest.param({"RSA": ["2048", "3072"]}, pki.KeySpec("RSA", 2048), True, id="RSA listed"),
        pytest.param({"RSA": ["3072"]}, pki.KeySpec("RSA", 2048), False, id="RSA size missing"),
        pytest.param({"RSA": ["2048"]}, pki.KeySpec("ECDSA", 256), False, id="no EC at all"),
        pytest.param({"EC": ["P-256"]}, pki.KeySpec("ECDSA", 256), True, id="EC P-256"),
        pytest.param({"EC": ["P-384"]}, pki.KeySpec("ECDSA", 256), False, id="EC other curve"),
        pytest.param({"ecdsa": ["P256"]}, pki.KeySpec("ECDSA", 256), True, id="spelling ECDSA"),
        pytest.param({"EC": ["secp521r1"]}, pki.KeySpec("ECDSA", 521), True, id="secp521r1"),
        pytest.param({"EC": ["prime256v1"]}, pki.KeySpec("ECDSA", 256), True, id="prime256v1"),
        pytest.param({"EC": ["2048"]}, pki.KeySpec("RSA", 2048), False, id="EC list vs RSA"),
        pytest.param({}, pki.KeySpec("RSA", 2048), False, id="empty profile"),
    ],
)
def test_key_type_allowed_by_profile(
    key_types: dict[str, list[str]], spec: pki.KeySpec, allowed: bool
) -> None:
    assert pki.key_type_allowed(key_types, spec) is allowed


# --------------------------------------------------------------------------------------------
# CSRs
# --------------------------------------------------------------------------------------------

P256 = pki.KeySpec("ECDSA", 256)
RSA2048 = pki.KeySpec("RSA", 2048)

CSR_CASES = [
    pytest.param(
        RSA2048,
        pki.CsrRequest(common_name="www.example.com", dns_names=("www.example.com", "example.com")),
        pki.CsrInfo("www.example.com", ("www.example.com", "example.com"), (), (), (), RSA2048),
        id="SSL with DNS SANs",
    ),
    pytest.param(
        P256,
        pki.CsrRequest(
            common_name="api.example.com",
            dns_names=("api.example.com",),
            ip_addresses=("127.0.0.1", "::1"),
            uris=("spiffe://example.com/api",),
        ),
        pki.CsrInfo(
            "api.example.com",
            ("api.example.com",),
            ("127.0.0.1", "::1"),
            (),
            ("spiffe://example.com/api",),
            P256,
        ),
        id="SSL with IPs and URI",
    ),
    pytest.param(
        P256,
        pki.CsrRequest(common_name="Jane Doe", email_addresses=("jane@example.com",)),
        pki.CsrInfo("Jane Doe", (), (), ("jane@example.com",), (), P256),
        id="client certificate e-mail",
    ),
    pytest.param(
        P256,
        pki.CsrRequest(email_addresses=("jane@example.com", "j.doe@example.com")),
        pki.CsrInfo(None, (), (), ("jane@example.com", "j.doe@example.com"), (), P256),
        id="client certificate, two e-mails, no CN",
    ),
    pytest.param(
        pki.KeySpec("ECDSA", 384),
        pki.CsrRequest(dns_names=("no-cn.example.com",)),
        pki.CsrInfo(None, ("no-cn.example.com",), (), (), (), pki.KeySpec("ECDSA", 384)),
        id="SANs only, P-384",
    ),
]


@pytest.mark.parametrize(("spec", "request_", "expected"), CSR_CASES)
def test_csr_contents(spec: pki.KeySpec, request_: pki.CsrRequest, expected: pki.CsrInfo) -> None:
    key = key_for(spec)
    pem = pki.build_csr(key, request_)
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    csr = pki.load_csr(pem)
    assert pki.csr_info(csr) == expected
    assert pki.csr_matches_key(csr, key)
    emails = csr.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    assert [a.value for a in emails] == list(request_.email_addresses[:1])
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical is (len(csr.subject) == 0)


def test_csr_subject_parts() -> None:
    request_ = pki.CsrRequest(
        common_name="www.example.com",
        organizations=("Example Ltd",),
        organizational_units=("Web", "Ops"),
        countries=("DE",),
        provinces=("Bavaria",),
        localities=("Munich",),
        street_addresses=("1 Main Street",),
        postal_codes=("80331",),
        serial_number="HRB 12345",
        email_addresses=("web@example.com",),
    )
    csr = pki.load_csr(pki.build_csr(key_for(P256), request_))
    subject = {(a.oid, a.value) for a in csr.subject}
    assert subject == {
        (NameOID.COMMON_NAME, "www.example.com"),
        (NameOID.ORGANIZATION_NAME, "Example Ltd"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Web"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
        (NameOID.COUNTRY_NAME, "DE"),
        (NameOID.STATE_OR_PROVINCE_NAME, "Bavaria"),
        (NameOID.LOCALITY_NAME, "Munich"),
        (NameOID.STREET_ADDRESS, "1 Main Street"),
        (NameOID.POSTAL_CODE, "80331"),
        (NameOID.SERIAL_NUMBER, "HRB 12345"),
        (NameOID.EMAIL_ADDRESS, "web@example.com"),
    }


@pytest.mark.parametrize(
    ("spec", "hash_name"),
    [
        pytest.param(RSA2048, "sha256", id="RSA sha256"),
        pytest.param(P256, "sha256", id="P-256 sha256"),
        pytest.param(pki.KeySpec("ECDSA", 384), "sha384", id="P-384 sha384"),
        pytest.param(pki.KeySpec("ECDSA", 521), "sha512", id="P-521 sha512"),
    ],
)
def test_csr_signature_hash_fits_the_key(spec: pki.KeySpec, hash_name: str) -> None:
    csr = pki.load_csr(pki.build_csr(key_for(spec), pki.CsrRequest(common_name="x.example.com")))
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == hash_name


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param(pki.CsrRequest(), "neither a common name nor", id="empty request"),
        pytest.param(
            pki.CsrRequest(common_name="x", countries=("DEU",)), "country", id="3-letter country"
        ),
        pytest.param(
            pki.CsrRequest(common_name="x", ip_addresses=("127.0.0.300",)),
            "invalid IP address '127.0.0.300'",
            id="bad IP",
        ),
        pytest.param(
            pki.CsrRequest(dns_names=("bücher.example",)), "punycode", id="non-ASCII DNS name"
        ),
        pytest.param(
            pki.CsrRequest(email_addresses=("not-an-email",)), "e-mail", id="e-mail without @"
        ),
    ],
)
def test_build_csr_rejects_bad_requests(request_: pki.CsrRequest, message: str) -> None:
    with pytest.raises(pki.InvalidCsr, match=message):
        pki.build_csr(key_for(P256), request_)


@functools.cache
def sample_csr_pem() -> str:
    return pki.build_csr(
        key_for(RSA2048),
        pki.CsrRequest(common_name="www.example.com", dns_names=("www.example.com",)),
    )


def _body(pem: str) -> str:
    return "".join(pem.strip().splitlines()[1:-1])


CSR_ENCODINGS = [
    pytest.param(lambda pem: pem, id="PEM"),
    pytest.param(lambda pem: pem.replace("\n", ""), id="PEM without newlines"),
    pytest.param(lambda pem: pem.replace("\n", "\r\n"), id="PEM with CRLF"),
    pytest.param(_body, id="bare base64"),
    pytest.param(lambda pem: "\n  " + _body(pem) + "\n", id="bare base64 with whitespace"),
    pytest.param(
        lambda pem: pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
        id="NEW CERTIFICATE REQUEST armor",
    ),
    pytest.param(lambda pem: pem.encode(), id="PEM as bytes"),
]


@pytest.mark.parametrize("encode", CSR_ENCODINGS)
def test_every_scm_csr_encoding_loads(encode: Callable[[str], str | bytes]) -> None:
    pem = sample_csr_pem()
    text = encode(pem)
    csr = pki.load_csr(text)
    assert csr.public_bytes(serialization.Encoding.DER) == pki.load_csr(pem).public_bytes(
        serialization.Encoding.DER
    )
    scm = pki.csr_for_scm(text)
    assert scm == pem
    assert scm.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert scm.endswith("-----END CERTIFICATE REQUEST-----\n")
    assert "\r" not in scm
    assert all(len(line) <= 64 for line in scm.splitlines())
    assert re.fullmatch(r"[a-zA-Z0-9\-+=/\s]+", scm), "SCM's documented csr character class"


def _tampered_csr() -> str:
    der = bytearray(base64.b64decode(_body(sample_csr_pem())))
    der[-5] ^= 0xFF  # inside the signature value
    return base64.b64encode(bytes(der)).decode()


def _tampered_subject_csr() -> str:
    der = base64.b64decode(_body(sample_csr_pem()))
    return base64.b64encode(der.replace(b"www.example.com", b"www.examplf.com", 1)).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n", "empty", id="whitespace"),
        pytest.param("not base64 at all!", "not valid base64", id="not base64"),
        pytest.param(base64.b64encode(b"hello world").decode(), "PKCS#10", id="base64 not a CSR"),
        pytest.param(
            pem_of(Pki().root), "labelled .CERTIFICATE., expected", id="a certificate PEM"
        ),
        pytest.param("-----BEGIN CERTIFICATE REQUEST-----MIIB", "incomplete", id="PEM without END"),
        pytest.param(_tampered_csr(), "signature", id="corrupt signature"),
        pytest.param(_tampered_subject_csr(), "signature", id="altered subject"),
    ],
)
def test_load_csr_errors(text: str, message: str) -> None:
    with pytest.raises(pki.InvalidCsr, match=message) as caught:
        pki.load_csr(text)
    assert_no_material(str(caught.value), text)


@pytest.mark.parametrize(
    ("csr_spec", "key_spec"),
    [
        pytest.param(RSA2048, RSA2048, id="RSA vs other RSA"),
        pytest.param(P256, P256, id="P-256 vs other P-256"),
        pytest.param(RSA2048, P256, id="RSA CSR vs EC key"),
    ],
)
def test_mismatched_key_and_csr_detected(csr_spec: pki.KeySpec, key_spec: pki.KeySpec) -> None:
    csr_key = key_for(csr_spec)
    other = pki.generate_private_key(key_spec)
    csr = pki.load_csr(pki.build_csr(csr_key, pki.CsrRequest(common_name="m.example.com")))
    assert pki.csr_matches_key(csr, csr_key)
    assert not pki.csr_matches_key(csr, other)
    pki.check_key_matches(csr, csr_key)
    with pytest.raises(pki.KeyMismatch, match=r"does not match .* CSR for CN=m\.example\.com"):
        pki.check_key_matches(csr, other)
    try:
        pki.check_key_matches(csr, other)
    except pki.KeyMismatch as error:
        assert_no_material(
            str(error),
            pki.private_key_to_pem(other),
            pki.private_key_to_pem(csr_key),
            csr.public_bytes(serialization.Encoding.PEM),
        )


# --------------------------------------------------------------------------------------------
# certificates: parsing, ordering, information
# --------------------------------------------------------------------------------------------

CHAIN_NAMES = ("root", "inter1", "inter2", "leaf")


@pytest.mark.parametrize(
    "order",
    [
        pytest.param(p, id=">".join(p))
        for p in itertools.permutations(CHAIN_NAMES)  # all 24 orders, incl. x509 and x509R
    ],
)
def test_order_chain_from_any_order(test_pki: Pki, order: tuple[str, ...]) -> None:
    chain = pki.order_chain([getattr(test_pki, n) for n in order])
    assert chain == pki.Chain(test_pki.leaf, (test_pki.inter2, test_pki.inter1), test_pki.root)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(("leaf",), ("leaf", (), None), id="leaf only"),
        pytest.param(
            ("inter1", "leaf", "inter2"), ("leaf", ("inter2", "inter1"), None), id="no root"
        ),
        pytest.param(
            ("leaf", "inter2", "leaf", "inter1", "root", "inter2"),
            ("leaf", ("inter2", "inter1"), "root"),
            id="duplicates dropped",
        ),
        pytest.param(("root",), ("root", (), None), id="self-signed alone"),
        pytest.param(("inter1", "root"), ("inter1", (), "root"), id="CA pair"),
    ],
)
def test_order_chain_partial_inputs(
    test_pki: Pki,
    names: tuple[str, ...],
    expected: tuple[str, tuple[str, ...], str | None],
) -> None:
    leaf, inters, root = expected
    chain = pki.order_chain([getattr(test_pki, n) for n in names])
    assert chain.leaf == getattr(test_pki, leaf)
    assert chain.intermediates == tuple(getattr(test_pki, n) for n in inters)
    assert chain.root == (getattr(test_pki, root) if root else None)


def test_order_chain_errors(test_pki: Pki) -> None:
    with pytest.raises(pki.ChainError, match="no certificates"):
        pki.order_chain([])
    second_leaf = test_pki.issue(ec_key(), "other.example.com")
    with pytest.raises(pki.ChainError, match="possible leaves") as caught:
        pki.order_chain([test_pki.leaf, second_leaf, test_pki.inter2])
    assert "www.example.com" in str(caught.value) and "other.example.com" in str(caught.value)
    stranger = Pki("Stranger Root").root
    with pytest.raises(pki.ChainError, match="possible leaves"):
        pki.order_chain([test_pki.leaf, test_pki.inter2, stranger])


def test_order_chain_needs_a_real_signature_not_just_the_name(test_pki: Pki) -> None:
    # Same subject name as inter2 but another key: it must not be taken for the leaf's issuer.
    impostor = make_cert("Test Inter 2", ec_key(), (test_pki.inter1, test_pki.inter1_key), ca=True)
    with pytest.raises(pki.ChainError):
        pki.order_chain([test_pki.leaf, impostor, test_pki.inter1, test_pki.root])


def test_remembered_signatures_still_tell_an_impostor_apart(test_pki: Pki) -> None:
    # Signature checks are remembered per pair of certificates (by DER): ordering the genuine
    # chain first must not make a same-named certificate with another key pass afterwards.
    genuine = [test_pki.leaf, test_pki.inter2, test_pki.inter1, test_pki.root]
    assert pki.order_chain(genuine).intermediates == (test_pki.inter2, test_pki.inter1)
    impostor = make_cert("Test Inter 2", ec_key(), (test_pki.inter1, test_pki.inter1_key), ca=True)
    for _ in range(2):
        with pytest.raises(pki.ChainError):
            pki.order_chain([test_pki.leaf, impostor, test_pki.inter1, test_pki.root])
        assert pki.order_chain(genuine).leaf == test_pki.leaf


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda certs: "".join(pem_of(c) for c in certs), id="PEM text"),
        pytest.param(lambda certs: "".join(pem_of(c) for c in certs).encode(), id="PEM bytes"),
        pytest.param(
            lambda certs: pkcs7.serialize_certificates(certs, serialization.Encoding.PEM),
            id="PKCS7 PEM",
        ),
        pytest.param(
            lambda certs: pkcs7.serialize_certificates(certs, serialization.Encoding.DER),
            id="PKCS7 DER",
        ),
    ],
)
def test_parse_pem_chain_formats(
    test_pki: Pki, encode: Callable[[list[x509.Certificate]], str | bytes]
) -> None:
    certs = [test_pki.root, test_pki.inter1, test_pki.inter2, test_pki.leaf]
    parsed = pki.parse_pem_chain(encode(certs))
    assert sorted(c.fingerprint(hashes.SHA256()) for c in parsed) == sorted(
        c.fingerprint(hashes.SHA256()) for c in certs
    )
    assert pki.order_chain(parsed).leaf == test_pki.leaf


def test_parse_single_der_certificate(test_pki: Pki) -> None:
    assert pki.parse_pem_chain(outputs.der(test_pki.leaf)) == [test_pki.leaf]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"garbage", id="garbage DER"),
        pytest.param(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", id="bad PEM"
        ),
        pytest.param(sample_csr_pem(), id="a CSR"),
    ],
)
def test_parse_pem_chain_errors(data: str | bytes) -> None:
    with pytest.raises(pki.InvalidCertificate) as caught:
        pki.parse_pem_chain(data)
    assert_no_material(str(caught.value), data)


def test_cert_info(test_pki: Pki) -> None:
    key = key_for(RSA2048)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Jane Doe"),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, "jane@example.com"),
        ]
    )
    cert = make_cert(
        "ignored",
        key,
        (test_pki.inter2, test_pki.inter2_key),
        ca=False,
        subject=subject,
        serial=0x0A3EC0FF,
        sans=[
            x509.RFC822Name("jane@example.com"),
            x509.RFC822Name("j.doe@example.com"),
            x509.DNSName("jane.example.com"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.UniformResourceIdentifier("urn:example:jane"),
        ],
        not_before=NOW - DAY,
        not_after=NOW + 90 * DAY,
    )
    info = pki.cert_info(cert)
    assert info == pki.CertInfo(
        serial_number="0A:3E:C0:FF",
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        not_before=NOW - DAY,
        not_after=NOW + 90 * DAY,
        common_name="Jane Doe",
        dns_names=("jane.example.com",),
        ip_addresses=("127.0.0.1",),
        email_addresses=("jane@example.com", "j.doe@example.com"),
        uris=("urn:example:jane",),
        issuer_common_name="Test Inter 2",
        key_spec=RSA2048,
    )
    assert info.not_after.tzinfo is not None and info.not_after.utcoffset() == dt.timedelta(0)
    assert pki.cert_matches_key(cert, key)
    assert not pki.cert_matches_key(cert, test_pki.leaf_key)
    with pytest.raises(pki.KeyMismatch, match="certificate for CN=Jane Doe"):
        pki.check_key_matches(cert, test_pki.leaf_key)


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        pytest.param(0xA93EC0, "A9:3E:C0", id="int"),
        pytest.param(0x1, "01", id="int padded"),
        pytest.param("a93ec0", "A9:3E:C0", id="lower-case hex"),
        pytest.param("A9:3E:C0", "A9:3E:C0", id="already SCM form"),
        pytest.param("00:A9:3E:C0", "A9:3E:C0", id="DER leading zero"),
        pytest.param("a93ec", "0A:93:EC", id="odd length"),
    ],
)
def test_normalize_serial(serial: int | str, expected: str) -> None:
    assert pki.normalize_serial(serial) == expected


def test_normalize_serial_rejects_non_hex() -> None:
    with pytest.raises(pki.InvalidCertificate, match="not hexadecimal"):
        pki.normalize_serial("XY:12")


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "smime", [pytest.param(False, id="TLS leaf"), pytest.param(True, id="S/MIME leaf")]
)
def test_verify_chain_passes_for_a_good_chain(test_pki: Pki, smime: bool) -> None:
    leaf = test_pki.issue(ec_key(), "jane@example.com" if smime else "a.example.com", smime=smime)
    pki.verify_chain(leaf, [test_pki.inter2, test_pki.inter1], [test_pki.root], now=NOW)
    # intermediates in the "wrong" order are fine too: the path builder finds the way
    pki.verify_chain(leaf, [test_pki.inter1, test_pki.inter2], [test_pki.root], now=NOW)


def test_verify_chain_default_time_is_now() -> None:
    today = dt.datetime.now(dt.UTC)
    fresh = Pki()
    leaf = fresh.issue(ec_key(), "now.example.com", not_before=today - DAY, not_after=today + DAY)
    pki.verify_chain(leaf, [fresh.inter2, fresh.inter1], [fresh.root])


VERIFY_FAILURES = [
    pytest.param("wrong root", id="wrong root"),
    pytest.param("expired leaf", id="expired leaf"),
    pytest.param("leaf not yet valid", id="leaf not yet valid"),
    pytest.param("expired intermediate", id="expired intermediate"),
    pytest.param("missing intermediate", id="missing intermediate"),
    pytest.param("issuer is not a CA", id="issuer not a CA"),
]


@pytest.mark.parametrize("case", VERIFY_FAILURES)
def test_verify_chain_fails(test_pki: Pki, case: str) -> None:
    leaf, inters, roots, now = (
        test_pki.leaf,
        [test_pki.inter2, test_pki.inter1],
        [test_pki.root],
        NOW,
    )
    if case == "wrong root":
        roots = [Pki("Test Root").root]  # same name, other key
    elif case == "expired leaf":
        now = test_pki.leaf.not_valid_after_utc + DAY
    elif case == "leaf not yet valid":
        now = test_pki.leaf.not_valid_before_utc - DAY
    elif case == "expired intermediate":
        short = make_cert(
            "Test Inter 2",
            test_pki.inter2_key,
            (test_pki.inter1, test_pki.inter1_key),
            ca=True,
            not_after=NOW - DAY,
        )
        inters = [short, test_pki.inter1]
    elif case == "missing intermediate":
        inters = [test_pki.inter2]
    elif case == "issuer is not a CA":
        not_ca = make_cert(
            "Test Inter 2", test_pki.inter2_key, (test_pki.inter1, test_pki.inter1_key), ca=False
        )
        inters = [not_ca, test_pki.inter1]
    with pytest.raises(pki.ChainError, match=r"chain of CN=www\.example\.com does not verify"):
        pki.verify_chain(leaf, inters, roots, now=now)


def test_verify_chain_needs_a_root(test_pki: Pki) -> None:
    with pytest.raises(pki.ChainError, match="no trusted root"):
        pki.verify_chain(test_pki.leaf, [test_pki.inter2, test_pki.inter1], [], now=NOW)


# --------------------------------------------------------------------------------------------
# Secret contents and additional output formats
# --------------------------------------------------------------------------------------------


def test_chain_to_pem_and_ca_pem(test_pki: Pki) -> None:
    chain = pki.order_chain([test_pki.root, test_pki.inter1, test_pki.inter2, test_pki.leaf])
    tls_crt = pki.chain_to_pem(chain)
    assert x509.load_pem_x509_certificates(tls_crt.encode()) == [
        test_pki.leaf,
        test_pki.inter2,
        test_pki.inter1,
    ]
    with_root = pki.chain_to_pem(chain, include_root=True)
    assert x509.load_pem_x509_certificates(with_root.encode())[-1] == test_pki.root
    assert pki.ca_pem(chain) == pem_of(test_pki.root)
    rootless = pki.Chain(test_pki.leaf, (test_pki.inter2, test_pki.inter1))
    assert pki.ca_pem(rootless) == pem_of(test_pki.inter1)
    assert pki.chain_to_pem(rootless, include_root=True) == tls_crt
    assert pki.ca_pem(pki.Chain(test_pki.leaf)) is None


def test_combined_pem_is_key_then_chain(test_pki: Pki) -> None:
    chain = pki.Chain(test_pki.leaf, (test_pki.inter2, test_pki.inter1), test_pki.root)
    key_pem = pki.private_key_to_pem(test_pki.leaf_key)
    combined = outputs.combined_pem(pki.chain_to_pem(chain), key_pem)
    assert combined.startswith(key_pem.decode())
    assert pki.load_private_key(combined.encode()).public_key() == test_pki.leaf_key.public_key()
    assert pki.parse_pem_chain(combined) == [test_pki.leaf, test_pki.inter2, test_pki.inter1]


def test_der_of_certificate_and_key(test_pki: Pki) -> None:
    assert x509.load_der_x509_certificate(outputs.der(test_pki.leaf)) == test_pki.leaf
    loaded = serialization.load_der_private_key(outputs.der(test_pki.leaf_key), password=None)
    assert loaded.public_key() == test_pki.leaf_key.public_key()


@pytest.mark.parametrize(
    "password",
    [
        pytest.param(None, id="no password"),
        pytest.param(b"", id="empty password"),
        pytest.param(b"changeit", id="password"),
    ],
)
def test_pkcs12_round_trip(test_pki: Pki, password: bytes | None) -> None:
    chain = pki.Chain(test_pki.leaf, (test_pki.inter2, test_pki.inter1), test_pki.root)
    data = outputs.pkcs12(chain, test_pki.leaf_key, password)
    store = pkcs12.load_pkcs12(data, password or None)
    assert store.key is not None and store.cert is not None
    assert store.key.public_key() == test_pki.leaf_key.public_key()
    assert store.cert.certificate == test_pki.leaf
    assert store.cert.friendly_name == b"www.example.com"
    assert [c.certificate for c in store.additional_certs] == [
        test_pki.inter2,
        test_pki.inter1,
        test_pki.root,
    ]
    if password:
        with pytest.raises(ValueError):
            pkcs12.load_pkcs12(data, b"wrong")


def test_pkcs12_refuses_a_foreign_key(test_pki: Pki) -> None:
    with pytest.raises(pki.KeyMismatch):
        outputs.pkcs12(pki.Chain(test_pki.leaf), ec_key(), None)


@pytest.mark.parametrize(
    ("fmt", "names"),
    [
        ("x509", ["root", "intermediate", "leaf"]),
        ("pem", ["root", "intermediate", "leaf"]),
        ("x509R", ["leaf", "intermediate", "root"]),
        ("pemia", ["leaf", "intermediate", "root"]),
        ("x509CO", ["leaf"]),
        ("pemco", ["leaf"]),
        ("x509IO", ["root", "intermediate"]),
        ("x509IOR", ["intermediate", "root"]),
        ("base64", ["leaf", "intermediate", "root"]),
        ("bin", ["leaf", "intermediate", "root"]),
    ],
)
def test_render_collect_format_orders_like_scm(test_pki: Pki, fmt: str, names: list[str]) -> None:
    """spec.format: the chain as SCM's collect returns it in that format (scm-api.md §5.3)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    chain = pki.Chain(test_pki.leaf, (test_pki.inter1,), test_pki.root)
    rendered = outputs.render_collect_format(chain, fmt)
    if fmt == "bin":
        certs = pkcs7.load_der_pkcs7_certificates(rendered)
    elif fmt == "base64":
        certs = pkcs7.load_pem_pkcs7_certificates(rendered)
    else:
        certs = x509.load_pem_x509_certificates(rendered)
    by_role = {chain.leaf: "leaf", chain.intermediates[0]: "intermediate", chain.root: "root"}
    got = [by_role[c] for c in certs]
    assert got == names if fmt not in ("base64", "bin") else sorted(got) == sorted(names)
    assert fmt in outputs.COLLECT_FORMAT_FILES


def test_a_subject_that_cannot_be_encoded_is_refused_before_any_key_is_made() -> None:
    """64 emoji are 64 characters but 256 bytes: too long for a commonName."""
    request = pki.CsrRequest(common_name="\U0001f600" * 64)
    with pytest.raises(pki.InvalidCsr, match="common name"):
        pki.check_csr_request(request)
    pki.check_csr_request(pki.CsrRequest(common_name="\u00e9" * 32))  # 64 bytes: fine
