"""Checklist 8-9: collect in every format, chain order, pending answers, and terminal states."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs7
from cryptography.x509 import verification

from sectigo_operator.sandbox.config import SandboxConfig
from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import PENDING, SSL, ec_key, enroll_ssl, error, load_pems, make_csr, rsa_key


def _names(certs: list[x509.Certificate]) -> list[str]:
    return [c.subject.rfc4514_string() for c in certs]


LEAF = "CN=app.example.com"
INTERMEDIATE = "CN=Sandbox SCM Issuing CA,O=sectigo-operator sandbox"
ROOT = "CN=Sandbox SCM Root CA,O=sectigo-operator sandbox"


@pytest.mark.parametrize(
    ("fmt", "order"),
    [
        ("x509", [ROOT, INTERMEDIATE, LEAF]),
        ("pem", [ROOT, INTERMEDIATE, LEAF]),
        ("x509R", [LEAF, INTERMEDIATE, ROOT]),
        ("x509CO", [LEAF]),
        ("pemco", [LEAF]),
        ("pemia", [LEAF, INTERMEDIATE, ROOT]),
        ("x509IO", [ROOT, INTERMEDIATE]),
        ("x509IOR", [INTERMEDIATE, ROOT]),
        ("X509CO", [LEAF]),
    ],
)
@pytest.mark.parametrize("style", ["query", "path"])
def test_pem_formats_and_chain_order(
    scm: httpx.Client, fmt: str, order: list[str], style: str
) -> None:
    ssl_id = enroll_ssl(scm)
    url = f"{SSL}/collect/{ssl_id}" + (f"/{fmt}" if style == "path" else f"?format={fmt}")
    response = scm.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/octet-stream")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert _names(load_pems(response.text)) == order


def test_default_format_is_pem_pkcs7(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm)
    response = scm.get(f"{SSL}/collect/{ssl_id}")
    assert response.text.startswith("-----BEGIN PKCS7-----")
    assert ".p7b" in response.headers["content-disposition"]
    certs = pkcs7.load_pem_pkcs7_certificates(response.content)
    assert sorted(_names(certs)) == sorted([LEAF, INTERMEDIATE, ROOT])


def test_bin_is_der_pkcs7(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm)
    certs = pkcs7.load_der_pkcs7_certificates(scm.get(f"{SSL}/collect/{ssl_id}/bin").content)
    assert LEAF in _names(certs)


def test_unknown_format(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm)
    assert error(scm.get(f"{SSL}/collect/{ssl_id}?format=jks"))[:2] == (400, -126)


def test_unknown_id_is_404(scm: httpx.Client) -> None:
    assert error(scm.get(f"{SSL}/collect/987654")) == (
        404,
        -5101,
        "Certificate not found. 987654",
    )


@pytest.mark.parametrize(
    ("key", "key_type"),
    [(ec_key("P-256"), "EC - P-256"), (ec_key("P-384"), "EC - P-384"), (rsa_key(2048), None)],
    ids=["P-256", "P-384", "RSA-2048"],
)
def test_issued_certificate_verifies_to_the_root_and_matches_the_request(
    scm: httpx.Client, admin: SandboxHandle, key: object, key_type: str | None
) -> None:
    csr = make_csr("app.example.com", ("alt.example.com",), key=key)  # type: ignore[arg-type]
    ssl_id = enroll_ssl(scm, csr=csr, subjAltNames="www.example.com", term=730)
    leaf, intermediate, root = load_pems(scm.get(f"{SSL}/collect/{ssl_id}/x509R").text)
    assert root == admin.root_certificate()
    store = verification.Store([admin.root_certificate()])
    for name in ("app.example.com", "www.example.com", "alt.example.com"):
        verifier = (
            verification.PolicyBuilder().store(store).build_server_verifier(x509.DNSName(name))
        )
        chain = verifier.verify(leaf, [intermediate])
        assert chain[-1] == root
    assert leaf.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]
    term = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert term == dt.timedelta(days=730)
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["serialNumber"].replace(":", "") == f"{leaf.serial_number:X}".zfill(
        len(details["serialNumber"].replace(":", ""))
    )


def test_pending_answer_until_enough_collects(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.update_settings(issueAfterCollects=2)
    ssl_id = enroll_ssl(scm)
    for expected_status in ("Applied", "Issued"):  # issued once two pending answers were given
        response = scm.get(f"{SSL}/collect/{ssl_id}?format=x509CO")
        assert response.status_code == 400
        assert response.json() == PENDING
        assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == expected_status
    assert scm.get(f"{SSL}/collect/{ssl_id}?format=x509CO").status_code == 200
    assert admin.order(ssl_id)["collectCalls"] == 3
    assert admin.counters()["collectCallsByOrder"] == {str(ssl_id): 3}


def test_pending_until_the_delay_has_passed(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.update_settings(issueDelaySeconds=3600)
    ssl_id = enroll_ssl(scm)
    assert scm.get(f"{SSL}/collect/{ssl_id}").json() == PENDING
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["status"] == "Applied"
    assert details["serialNumber"] == ""
    admin.advance_clock(3600)
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Issued"
    assert scm.get(f"{SSL}/collect/{ssl_id}").status_code == 200


@pytest.mark.parametrize(
    ("code", "description"),
    [
        (-1400, "The request is being processed by Sectigo."),
        (-183, "Certificate is not collectable."),
    ],
)
def test_pending_code_modes(
    scm: httpx.Client, admin: SandboxHandle, code: int, description: str
) -> None:
    admin.update_settings(issueAfterCollects=1)
    admin.set_pending_code(code)
    ssl_id = enroll_ssl(scm)
    assert error(scm.get(f"{SSL}/collect/{ssl_id}")) == (400, code, description)


def test_revoked_and_declined_collect(scm: httpx.Client, admin: SandboxHandle) -> None:
    ssl_id = enroll_ssl(scm)
    admin.revoke(ssl_id, reason_code=1)
    assert error(scm.get(f"{SSL}/collect/{ssl_id}")) == (
        400,
        -110,
        "Certificate has been revoked and cannot be downloaded.",
    )
    declined = enroll_ssl(scm, certType=52)
    admin.decline(declined)
    assert error(scm.get(f"{SSL}/collect/{declined}")) == (
        400,
        -183,
        "Certificate is not collectable.",
    )


def test_rejected_and_expired(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.update_settings(rejectNext=1)
    rejected = enroll_ssl(scm)
    assert scm.get(f"{SSL}/{rejected}").json()["status"] == "Rejected"
    assert error(scm.get(f"{SSL}/collect/{rejected}"))[:2] == (400, -183)
    expired = enroll_ssl(scm, term=365)
    assert scm.get(f"{SSL}/{expired}").json()["status"] == "Issued"
    admin.advance_clock(366 * 86400)
    assert scm.get(f"{SSL}/{expired}").json()["status"] == "Expired"
    assert scm.get(f"{SSL}/collect/{expired}").status_code == 200


class TestConfiguredDelay:
    @pytest.fixture
    def sandbox_config(self) -> SandboxConfig:
        return SandboxConfig(issue_after_collects=1)

    def test_config_delay_applies(self, own_scm: httpx.Client) -> None:
        ssl_id = enroll_ssl(own_scm)
        assert own_scm.get(f"{SSL}/collect/{ssl_id}").json() == PENDING
        assert own_scm.get(f"{SSL}/collect/{ssl_id}").status_code == 200


def test_lifetime_seconds_signs_short_lived_certificates(
    scm: httpx.Client, admin: SandboxHandle
) -> None:
    """``lifetimeSeconds`` (admin setting) shortens validity so tests can reach renewal windows."""
    admin.update_settings(lifetimeSeconds=90)
    ssl_id = enroll_ssl(scm)
    leaf = load_pems(scm.get(f"{SSL}/collect/{ssl_id}?format=x509CO").text)[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(seconds=90)
    admin.update_settings(lifetimeSeconds=0)
    ssl_id = enroll_ssl(scm)
    leaf = load_pems(scm.get(f"{SSL}/collect/{ssl_id}?format=x509CO").text)[0]
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(days=365)
