"""Checklist 17-22: the client-certificate (S/MIME) API."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.x509 import verification

from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import PENDING, SMIME1, SMIME2, enroll_smime, error, load_pems, make_csr, smime_body


def _item(scm: httpx.Client, backend_id: str) -> dict[str, Any]:
    items = scm.get(SMIME2, params={"backendCertId": backend_id}).json()
    assert len(items) == 1
    result: dict[str, Any] = items[0]
    return result


@pytest.mark.parametrize("path", [f"{SMIME1}/enroll", f"{SMIME2}/enroll"])
def test_enroll_returns_order_number_and_backend_id(scm: httpx.Client, path: str) -> None:
    response = scm.post(path, json=smime_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"orderNumber", "backendCertId"}
    assert isinstance(body["orderNumber"], int)
    assert body["backendCertId"] == str(body["orderNumber"])


def test_list_item_details_and_collect(scm: httpx.Client, admin: SandboxHandle) -> None:
    ids = enroll_smime(scm, comments="k8s:u:1", secondaryEmails=["j.doe@example.com"])
    item = _item(scm, ids["backendCertId"])
    assert item["state"] == "issued"
    assert item["comments"] == "k8s:u:1"
    assert item["orderNumber"] == ids["orderNumber"]
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", item["expires"])
    assert item["id"] != ids["orderNumber"]  # the internal id is separate
    assert {"issuer", "subject", "subjectAltNames", "md5Hash", "sha1Hash"} <= set(
        item["certificateDetails"]
    )
    details = scm.get(f"{SMIME1}/{item['id']}").json()
    assert details["status"] == "issued" and details["commonName"] == "Jane Doe"
    assert details["backendCertId"] == ids["backendCertId"]
    assert details["comments"] == "k8s:u:1"
    assert scm.get(f"{SMIME2}/{item['id']}").json()["id"] == item["id"]
    pem = scm.get(f"{SMIME1}/collect/{ids['backendCertId']}?format=x509R").text
    leaf, intermediate, root = load_pems(pem)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([admin.root_certificate()]))
        .build_client_verifier()
    )
    verified = verifier.verify(leaf, [intermediate])
    assert verified.chain[-1] == root
    emails = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert emails.get_values_for_type(x509.RFC822Name) == ["jane@example.com", "j.doe@example.com"]
    assert scm.get(f"{SMIME2}/collect/{ids['backendCertId']}").text.startswith(
        "-----BEGIN PKCS7-----"
    )


def test_list_by_email_and_count(scm: httpx.Client) -> None:
    enroll_smime(scm, comments="a")
    enroll_smime(scm, comments="b")
    enroll_smime(scm, email="bob@example.com", firstName="Bob")
    response = scm.get(SMIME2, params={"email": "JANE@example.com"})
    assert [i["comments"] for i in response.json()] == ["a", "b"]
    assert response.headers["X-Total-Count"] == "2"
    assert scm.head(SMIME2, params={"email": "bob@example.com"}).headers["X-Total-Count"] == "1"
    assert len(scm.get(SMIME2, params={"state": "issued"}).json()) == 3


def test_pending_collect_and_approval(scm: httpx.Client, admin: SandboxHandle) -> None:
    ids = enroll_smime(scm, certType=62)
    assert scm.get(f"{SMIME1}/collect/{ids['backendCertId']}").json() == PENDING
    assert _item(scm, ids["backendCertId"])["state"] == "requested"
    admin.set_pending_code(-183)
    assert error(scm.get(f"{SMIME1}/collect/{ids['backendCertId']}")) == (
        400,
        -183,
        "Certificate is not collectable.",
    )
    admin.approve(admin.orders(email="jane@example.com")[0]["id"])
    assert scm.get(f"{SMIME1}/collect/{ids['backendCertId']}").status_code == 200


def test_unknown_ids(scm: httpx.Client) -> None:
    assert error(scm.get(f"{SMIME1}/collect/777"))[:2] == (404, -5101)
    assert error(scm.get(f"{SMIME1}/777"))[:2] == (404, -5101)
    assert error(scm.post(f"{SMIME2}/renew/order/777"))[:2] == (404, -5101)


def test_renew_by_order_and_serial(scm: httpx.Client) -> None:
    ids = enroll_smime(scm)
    renewed = scm.post(f"{SMIME2}/renew/order/{ids['backendCertId']}")
    assert renewed.status_code == 200
    new = renewed.json()
    assert set(new) == {"orderNumber", "backendCertId"} and new != ids
    serial = _item(scm, new["backendCertId"])["serialNumber"]
    again = scm.post(f"{SMIME2}/renew/serial/{serial}")
    assert again.status_code == 200 and again.json()["orderNumber"] != new["orderNumber"]
    old = load_pems(scm.get(f"{SMIME1}/collect/{ids['backendCertId']}/x509CO").text)[0]
    latest = load_pems(scm.get(f"{SMIME1}/collect/{again.json()['backendCertId']}/x509CO").text)[0]
    assert old.public_key() == latest.public_key()  # renew reuses the CSR


def test_revoke_by_order_serial_and_email(scm: httpx.Client, admin: SandboxHandle) -> None:
    first = enroll_smime(scm)
    response = scm.post(f"{SMIME1}/revoke/order/{first['backendCertId']}", json={"reason": ""})
    assert response.status_code == 204
    assert _item(scm, first["backendCertId"])["state"] == "revoked"
    assert error(scm.get(f"{SMIME1}/collect/{first['backendCertId']}"))[1] == -110
    second = enroll_smime(scm)
    serial = _item(scm, second["backendCertId"])["serialNumber"]
    assert scm.post(f"{SMIME1}/revoke/serial/{serial}", json={"reasonCode": 4}).status_code == 204
    enroll_smime(scm)
    enroll_smime(scm)
    body = {"email": "jane@example.com", "reason": "left", "reasonCode": 3}
    assert scm.post(f"{SMIME1}/revoke", json=body).status_code == 204
    assert all(
        i["state"] == "revoked"
        for i in scm.get(SMIME2, params={"email": "jane@example.com"}).json()
    )
    assert error(scm.post(f"{SMIME1}/revoke", json=body))[:2] == (404, -1108)
    assert admin.counters()["revocations"] == 4


def test_legacy_replace(scm: httpx.Client) -> None:
    ids = enroll_smime(scm)
    before = _item(scm, ids["backendCertId"])["serialNumber"]
    body = {"csr": make_csr("Jane Doe"), "reason": "new key", "revoke": True}
    assert scm.post(f"{SMIME2}/replace/order/{ids['orderNumber']}", json=body).status_code == 204
    assert _item(scm, ids["backendCertId"])["serialNumber"] != before


REJECTIONS = [
    ("email missing", {"email": None}, -7),
    ("email malformed", {"email": "not-an-email"}, -1601),
    ("first name missing", {"firstName": None}, -7),
    ("last name empty", {"lastName": ""}, -7),
    ("full name over 64", {"firstName": "A" * 40, "lastName": "B" * 30}, -1601),
    ("profile unknown", {"certType": 51}, -172),
    ("term invalid", {"term": 1}, -36),
    ("org unknown", {"orgId": 1}, -639),
    ("csr invalid", {"csr": "zzz"}, -138),
    ("secondary email malformed", {"secondaryEmails": ["x"]}, -1601),
]


@pytest.mark.parametrize(
    ("overrides", "code"), [pytest.param(o, c, id=n) for n, o, c in REJECTIONS]
)
def test_enroll_rejections(
    scm: httpx.Client, admin: SandboxHandle, overrides: dict[str, Any], code: int
) -> None:
    response = scm.post(f"{SMIME1}/enroll", json=smime_body(**overrides))
    assert error(response)[:2] == (400, code)
    assert admin.orders() == []
