"""Checklist 6: SSL enroll, its accepted shapes and every rejection."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import SSL, ec_key, enroll_ssl, error, make_csr, rsa_key, ssl_body


def _pem_without_newlines(pem: str) -> str:
    return pem.replace("\n", "")


def _bare_base64(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param(lambda p: p, id="PEM with newlines"),
        pytest.param(_pem_without_newlines, id="PEM without newlines"),
        pytest.param(_bare_base64, id="bare base64 one line"),
        pytest.param(
            lambda p: (
                "\n".join(_bare_base64(p)[i : i + 64] for i in range(0, 400, 64))
                + _bare_base64(p)[384:]
            ),
            id="bare base64 wrapped",
        ),
    ],
)
def test_enroll_accepts_every_csr_shape(scm: httpx.Client, shape: Any) -> None:
    response = scm.post(f"{SSL}/enroll", json=ssl_body(csr=shape(make_csr())))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"sslId", "renewId"}
    assert isinstance(body["sslId"], int) and body["sslId"] >= 1
    assert isinstance(body["renewId"], str) and len(body["renewId"]) == 20


def test_enroll_records_the_order(scm: httpx.Client, admin: SandboxHandle) -> None:
    ssl_id = enroll_ssl(scm, comments="k8s:abc:7", subjAltNames="www.example.com, api.example.com")
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["commonName"] == "app.example.com"
    assert details["comments"] == "k8s:abc:7"
    assert details["subjectAlternativeNames"] == [
        "app.example.com",
        "www.example.com",
        "api.example.com",
    ]
    assert details["externalRequester"] == "ops@example.com"
    assert admin.counters()["enrollsByCommonName"] == {"app.example.com": 1}


def test_enroll_with_rsa_and_csr_sans(scm: httpx.Client) -> None:
    csr = make_csr("rsa.example.com", ("alt.example.com",), key=rsa_key(2048))
    ssl_id = enroll_ssl(scm, csr=csr, subjAltNames=None, term="730", certType="51")
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["keyType"] == "RSA - 2048"
    assert details["term"] == 730
    assert details["subjectAlternativeNames"] == ["rsa.example.com", "alt.example.com"]


def test_mandatory_custom_field_of_a_profile(scm: httpx.Client) -> None:
    fields = [{"name": "Ticket", "value": "CHG-1"}]
    assert scm.post(f"{SSL}/enroll", json=ssl_body(certType=53, customFields=fields)).is_success
    response = scm.post(f"{SSL}/enroll", json=ssl_body(certType=53))
    assert error(response) == (400, -62, "Missing mandatory custom field!")


def _corrupt(pem: str) -> str:
    b64 = _bare_base64(pem)
    return b64[:40] + ("A" if b64[40] != "A" else "B") + b64[41:]


REJECTIONS = [
    ("orgId missing", {"orgId": None}, 400, -7),
    ("orgId unknown", {"orgId": 999}, 400, -639),
    ("orgId not a number", {"orgId": "abc"}, 400, -1601),
    ("certType missing", {"certType": None}, 400, -7),
    ("certType unknown", {"certType": 99}, 400, -39),
    ("certType is S/MIME profile", {"certType": 61}, 400, -39),
    ("term missing", {"term": None}, 400, -7),
    ("term not in profile", {"term": 90}, 400, -36),
    ("csr missing", {"csr": None}, 400, -7),
    ("csr garbage", {"csr": "not a csr at all!"}, 400, -138),
    ("csr valid base64 but not DER", {"csr": base64.b64encode(b"hello").decode()}, 400, -138),
    ("csr corrupted", {"csr": _corrupt(make_csr())}, 400, -138),
    ("csr not a string", {"csr": 42}, 400, -138),
    ("RSA 1024", {"csr": make_csr(key=rsa_key(1024))}, 400, -13),
    ("EC on RSA-only profile", {"certType": 54}, 400, -170),
    ("EC curve not allowed", {"csr": make_csr(key=ec_key("K-256"))}, 400, -13),
    ("unknown custom field", {"customFields": [{"name": "Nope", "value": "x"}]}, 400, -135),
    ("customFields not a list", {"customFields": "x"}, 400, -1601),
    ("subjAltNames as a list", {"subjAltNames": ["a.example.com"]}, 400, -1601),
    ("comments too long", {"comments": "x" * 1025}, 400, -1601),
    ("no CN and no SANs", {"csr": make_csr(None), "subjAltNames": None}, 400, -7),
    (
        "CN with a NUL and a bidi override",
        {"csr": make_csr("evil\u202e\x00gpj.example.com")},
        400,
        -1601,
    ),
    ("CN of emoji", {"csr": make_csr("\U0001f600" * 10)}, 400, -1601),
    ("SAN with an empty label", {"subjAltNames": "a..example.com"}, 400, -1601),
    ("SAN label over 63", {"subjAltNames": "x" * 64 + ".example.com"}, 400, -1601),
]


def test_every_stored_order_answers_without_a_server_error(
    scm: httpx.Client, admin: SandboxHandle
) -> None:
    """Odd but valid names (IP CN, wildcard, single label) are stored, signed and listed."""
    for cn, sans in (("10.0.0.1", ""), ("*.example.com", "example.com"), ("localhost", "")):
        ssl_id = int(scm.post(f"{SSL}/enroll", json=ssl_body(csr=make_csr(cn), subjAltNames=sans))
                     .json()["sslId"])  # fmt: skip
        assert scm.get(f"{SSL}/{ssl_id}").status_code == 200
        collected = scm.get(f"{SSL}/collect/{ssl_id}", params={"format": "x509"})
        assert collected.status_code in (200, 400), collected.text
    assert all(isinstance(o["id"], int) for o in admin.orders())


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [pytest.param(o, s, c, id=name) for name, o, s, c in REJECTIONS],
)
def test_enroll_rejections(
    scm: httpx.Client, admin: SandboxHandle, overrides: dict[str, Any], status: int, code: int
) -> None:
    response = scm.post(f"{SSL}/enroll", json=ssl_body(**overrides))
    assert error(response)[:2] == (status, code)
    assert admin.orders() == []


def test_literal_bodies_for_term_profile_and_csr(scm: httpx.Client) -> None:
    assert error(scm.post(f"{SSL}/enroll", json=ssl_body(term=1))) == (
        400,
        -36,
        "The validity period (term) is invalid for this certificate profile.",
    )
    assert error(scm.post(f"{SSL}/enroll", json=ssl_body(certType=1))) == (
        400,
        -39,
        "The certificate profile id is invalid!",
    )
    assert error(scm.post(f"{SSL}/enroll", json=ssl_body(csr="xyz"))) == (
        400,
        -138,
        "Invalid CSR.",
    )


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe", b"null"],
    ids=["broken JSON", "empty", "array", "string", "not UTF-8", "null"],
)
def test_malformed_bodies_are_400_not_500(scm: httpx.Client, content: bytes) -> None:
    response = scm.post(
        f"{SSL}/enroll", content=content, headers={"Content-Type": "application/json"}
    )
    status, _, description = error(response)
    assert status == 400
    assert "Traceback" not in description
