"""Checklist 10-16: details, list, approval, renew, replace and revoke for SSL."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import PENDING, SSL, enroll_ssl, error, load_pems, make_csr, ssl_body

US_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")


def test_details_fields(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm, comments="marker-1")
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["id"] == details["sslId"] == ssl_id
    assert details["status"] == "Issued"
    assert details["orgId"] == 1234
    assert details["certType"]["id"] == 51 and details["certType"]["terms"] == [365, 730]
    assert details["backendCertId"] == str(details["orderNumber"])
    assert details["renewed"] is False
    assert details["comments"] == "marker-1"
    assert details["keyType"] == "EC - P-256"
    for date in ("requested", "issued", "expires"):
        assert US_DATE.match(details[date]), details[date]
    assert re.match(r"^([0-9A-F]{2}:)+[0-9A-F]{2}$", details["serialNumber"])
    assert details["certificateDetails"]["subject"] == "CN=app.example.com"
    assert "revoked" not in details


def test_unknown_details_is_404(scm: httpx.Client) -> None:
    assert error(scm.get(f"{SSL}/424242"))[:2] == (404, -5101)


def test_list_filters_paging_and_count(scm: httpx.Client) -> None:
    ids = [enroll_ssl(scm, csr=make_csr(f"host{i}.example.com")) for i in range(5)]
    pending = enroll_ssl(scm, certType=52, csr=make_csr("host0.example.com"))
    every = scm.get(SSL)
    assert every.headers["X-Total-Count"] == "6"
    assert [item["sslId"] for item in every.json()] == [*ids, pending]
    by_cn = scm.get(SSL, params={"commonName": "HOST0.example.com"})
    assert [item["sslId"] for item in by_cn.json()] == [ids[0], pending]
    assert set(by_cn.json()[0]) == {
        "sslId",
        "commonName",
        "subjectAlternativeNames",
        "serialNumber",
    }
    assert "serialNumber" not in by_cn.json()[1]  # not issued yet
    page = scm.get(SSL, params={"size": 2, "position": 1})
    assert [item["sslId"] for item in page.json()] == ids[1:3]
    assert page.headers["X-Total-Count"] == "6"
    requested = scm.get(SSL, params={"status": "Requested"}).json()
    assert [item["sslId"] for item in requested] == [pending]
    assert len(scm.get(SSL, params={"sslTypeId": 52}).json()) == 1
    assert len(scm.get(SSL, params={"subjectAlternativeName": "www.example.com"}).json()) == 6
    serial = scm.get(f"{SSL}/{ids[2]}").json()["serialNumber"]
    by_serial = scm.get(SSL, params={"serialNumber": serial.replace(":", "").lower()}).json()
    assert [item["sslId"] for item in by_serial] == [ids[2]]
    head = scm.head(SSL, params={"commonName": "host1.example.com"})
    assert head.status_code == 200 and head.headers["X-Total-Count"] == "1"
    assert head.content == b""


@pytest.mark.parametrize("params", [{"size": 201}, {"size": -1}, {"position": "x"}])
def test_list_bad_paging(scm: httpx.Client, params: dict[str, Any]) -> None:
    assert error(scm.get(SSL, params=params))[0] == 400


def test_approval_through_scm(scm: httpx.Client, admin: SandboxHandle) -> None:
    ssl_id = enroll_ssl(scm, certType=52)
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert (details["status"], details["serialNumber"]) == ("Requested", "")
    assert scm.get(f"{SSL}/collect/{ssl_id}").json() == PENDING
    assert error(scm.post(f"{SSL}/approve/{ssl_id}", json={}))[:2] == (400, -7)
    assert scm.post(f"{SSL}/approve/{ssl_id}", json={"message": "ok"}).status_code == 204
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Issued"
    status, code, _ = error(scm.post(f"{SSL}/approve/{ssl_id}", json={"message": "again"}))
    assert (status, code) == (400, -1112)


def test_approval_waits_for_the_delay(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.update_settings(issueDelaySeconds=60)
    ssl_id = enroll_ssl(scm, certType=52)
    admin.approve(ssl_id)
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Approved"
    admin.advance_clock(60)
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Issued"


def test_decline_through_scm(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm, certType=52)
    assert scm.post(f"{SSL}/decline/{ssl_id}", json={"message": "no"}).status_code == 204
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Declined"
    assert error(scm.post(f"{SSL}/decline/{ssl_id}", json={"message": "no"}))[1] == -1112
    assert error(scm.post(f"{SSL}/approve/99999", json={"message": "x"}))[0] == 404


@pytest.mark.parametrize(
    "content",
    [None, b'""', b"{}", b"null"],
    ids=["no body", "empty string", "empty object", "null"],
)
def test_renew_by_id_bodies(scm: httpx.Client, content: bytes | None) -> None:
    source = enroll_ssl(scm, comments="src")
    response = scm.post(
        f"{SSL}/renewById/{source}", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    new_id = response.json()["sslId"]
    assert set(response.json()) == {"sslId"} and new_id != source
    assert scm.get(f"{SSL}/{source}").json()["renewed"] is True
    new = scm.get(f"{SSL}/{new_id}").json()
    assert new["status"] == "Issued" and new["commonName"] == "app.example.com"
    assert new["serialNumber"] != scm.get(f"{SSL}/{source}").json()["serialNumber"]


def test_renew_by_id_with_a_new_csr(scm: httpx.Client) -> None:
    source = enroll_ssl(scm)
    new_key = ec.generate_private_key(ec.SECP384R1())
    response = scm.post(f"{SSL}/renewById/{source}", json={"csr": make_csr(key=new_key)})
    new_id = response.json()["sslId"]
    assert scm.get(f"{SSL}/{new_id}").json()["keyType"] == "EC - P-384"


def test_renew_errors(scm: httpx.Client, admin: SandboxHandle) -> None:
    assert error(scm.post(f"{SSL}/renewById/55555", json={}))[:2] == (404, -5101)
    pending = enroll_ssl(scm, certType=52)
    assert error(scm.post(f"{SSL}/renewById/{pending}", json={}))[:2] == (400, -130)
    assert error(scm.post(f"{SSL}/renewById/{pending}", json={"csr": "bad"}))[:2] == (400, -138)
    assert error(scm.post(f"{SSL}/renew/doesnotexist", json={}))[0] == 400


def test_renew_by_renew_id(scm: httpx.Client, admin: SandboxHandle) -> None:
    body = scm.post(f"{SSL}/enroll", json=ssl_body()).json()
    response = scm.post(f"{SSL}/renew/{body['renewId']}")
    assert response.status_code == 204 and response.content == b""
    orders = admin.orders(common_name="app.example.com")
    assert [o["renewedFrom"] for o in orders] == [None, body["sslId"]]


def test_replace_keeps_the_id_and_changes_key_and_serial(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm)
    before = scm.get(f"{SSL}/{ssl_id}").json()
    new_key = ec.generate_private_key(ec.SECP256R1())
    response = scm.post(
        f"{SSL}/replace/{ssl_id}",
        json={
            "csr": make_csr("app.example.com", key=new_key),
            "reason": "key rotation",
            "subjectAlternativeNames": ["new.example.com"],
        },
    )
    assert response.status_code == 204, response.text
    after = scm.get(f"{SSL}/{ssl_id}").json()
    assert after["serialNumber"] != before["serialNumber"]
    assert after["subjectAlternativeNames"] == ["app.example.com", "new.example.com"]
    assert "replaced" in after
    leaf = load_pems(scm.get(f"{SSL}/collect/{ssl_id}/x509CO").text)[0]
    assert leaf.public_key() == new_key.public_key()


@pytest.mark.parametrize(
    ("body", "code"),
    [({"reason": "x"}, -7), ({"csr": "AAAA", "reason": "x"}, -138), ({"csr": make_csr()}, -7)],
    ids=["no csr", "bad csr", "no reason"],
)
def test_replace_errors(scm: httpx.Client, body: dict[str, Any], code: int) -> None:
    ssl_id = enroll_ssl(scm)
    assert error(scm.post(f"{SSL}/replace/{ssl_id}", json=body))[:2] == (400, code)


@pytest.mark.parametrize("reason_code", [0, 1, 3, 4, 5, "4"])
def test_revoke_by_id(scm: httpx.Client, admin: SandboxHandle, reason_code: object) -> None:
    ssl_id = enroll_ssl(scm)
    response = scm.post(
        f"{SSL}/revoke/{ssl_id}", json={"reasonCode": reason_code, "reason": "superseded"}
    )
    assert response.status_code == 204
    details = scm.get(f"{SSL}/{ssl_id}").json()
    assert details["status"] == "Revoked" and details["reasonCode"] == int(str(reason_code))
    assert US_DATE.match(details["revoked"])
    assert error(scm.post(f"{SSL}/revoke/{ssl_id}", json={"reasonCode": 0, "reason": "x"})) == (
        400,
        -159,
        "Your certificate already revoked",
    )
    assert admin.counters()["revocations"] == 1


def test_revoke_by_serial(scm: httpx.Client) -> None:
    ssl_id = enroll_ssl(scm)
    serial = scm.get(f"{SSL}/{ssl_id}").json()["serialNumber"]
    response = scm.post(f"{SSL}/revoke/serial/{serial}", json={"reasonCode": 1, "reason": "kc"})
    assert response.status_code == 204
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Revoked"
    assert error(scm.post(f"{SSL}/revoke/serial/AB:CD", json={"reason": "x"}))[0] == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"reasonCode": 2, "reason": "x"}, -1601),
        ({"reasonCode": "six", "reason": "x"}, -1601),
        ({"reasonCode": True, "reason": "x"}, -1601),
        ({"reasonCode": 0}, -7),
        ({"reasonCode": 0, "reason": "x" * 513}, -1601),
    ],
    ids=["code 2", "not a number", "boolean", "no reason", "reason too long"],
)
def test_revoke_rejections(scm: httpx.Client, body: dict[str, Any], code: int) -> None:
    ssl_id = enroll_ssl(scm)
    assert error(scm.post(f"{SSL}/revoke/{ssl_id}", json=body))[:2] == (400, code)


def test_revoke_reason_code_strictness(scm: httpx.Client, admin: SandboxHandle) -> None:
    lenient = enroll_ssl(scm)
    assert scm.post(f"{SSL}/revoke/{lenient}", json={"reason": "x"}).status_code == 204
    assert scm.get(f"{SSL}/{lenient}").json()["reasonCode"] == 0
    admin.set_strict_reason_code(True)
    strict = enroll_ssl(scm)
    assert error(scm.post(f"{SSL}/revoke/{strict}", json={"reason": "x"}))[:2] == (400, -7)


def test_only_issued_can_be_revoked(scm: httpx.Client) -> None:
    pending = enroll_ssl(scm, certType=52)
    assert error(scm.post(f"{SSL}/revoke/{pending}", json={"reasonCode": 0, "reason": "x"})) == (
        400,
        -102,
        "Only issued certificates could be revoked.",
    )
