"""Fixtures for SCM client tests against the sandbox SCM over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import RetryPolicy, ScmClient, ScmConnection

FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.05, jitter=0)


def make_csr(common_name: str, sans: tuple[str, ...] = (), email: str | None = None) -> str:
    """A PEM CSR with a fresh P-256 key (fast), made with cryptography directly."""
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if email:
        names.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
    alt: list[x509.GeneralName] = [x509.DNSName(s) for s in sans]
    if email:
        alt.append(x509.RFC822Name(email))
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def connection_for(sandbox: SandboxHandle, **overrides: object) -> ScmConnection:
    values: dict[str, object] = {
        "base_url": sandbox.base_url,
        "customer_uri": sandbox.customer_uri,
        "login": sandbox.login,
        "password": sandbox.password,
        "retry": FAST_RETRY,
        "read_timeout": 5.0,
    }
    values.update(overrides)
    return ScmConnection.model_validate(values)


@pytest.fixture
def sandbox(shared_sandbox_scm: SandboxHandle) -> SandboxHandle:
    return shared_sandbox_scm


@pytest.fixture
async def scm(sandbox: SandboxHandle) -> AsyncIterator[ScmClient]:
    async with ScmClient(connection_for(sandbox)) as client:
        yield client
