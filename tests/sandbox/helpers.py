"""Helpers for the sandbox contract tests: CSRs made with cryptography, and small HTTP shortcuts."""

from __future__ import annotations

import functools
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

SSL = "/api/ssl/v1"
SMIME1 = "/api/smime/v1"
SMIME2 = "/api/smime/v2"
ORG = 1234
PENDING = {"code": 0, "description": "Being processed by Sectigo"}


@functools.cache
def ec_key(curve: str = "P-256") -> ec.EllipticCurvePrivateKey:
    curves: dict[str, ec.EllipticCurve] = {
        "P-256": ec.SECP256R1(),
        "P-384": ec.SECP384R1(),
        "P-521": ec.SECP521R1(),
        "K-256": ec.SECP256K1(),
    }
    return ec.generate_private_key(curves[curve])


@functools.cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(
    common_name: str | None = "app.example.com",
    dns_names: tuple[str, ...] = (),
    key: CertificateIssuerPrivateKeyTypes | None = None,
) -> str:
    key = key if key is not None else ec_key()
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = builder.sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def ssl_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orgId": ORG,
        "certType": 51,
        "term": 365,
        "csr": make_csr(),
        "subjAltNames": "www.example.com",
        "comments": "k8s:uid-1:1",
        "numberServers": 1,
        "serverType": -1,
        "externalRequester": "ops@example.com",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def smime_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orgId": ORG,
        "certType": 61,
        "term": 365,
        "csr": make_csr("Jane Doe"),
        "email": "jane@example.com",
        "firstName": "Jane",
        "lastName": "Doe",
        "comments": "k8s:uid-2:1",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def enroll_ssl(client: httpx.Client, **overrides: Any) -> int:
    response = client.post(f"{SSL}/enroll", json=ssl_body(**overrides))
    assert response.status_code == 200, response.text
    return int(response.json()["sslId"])


def enroll_smime(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = client.post(f"{SMIME1}/enroll", json=smime_body(**overrides))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def load_pems(text: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(text.encode())


def error(response: httpx.Response) -> tuple[int, int, str]:
    """(status, code, description) of an SCM error answer, checking its content type."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"code", "description"}, body
    return response.status_code, body["code"], body["description"]
