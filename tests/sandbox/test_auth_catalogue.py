"""Checklist 1-5: transport, authentication, error envelope, profiles and custom fields."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import SMIME1, SMIME2, SSL, error

UNKNOWN_USER = (401, -16, "Unknown user")


def test_auth_headers_are_case_insensitive(admin: SandboxHandle) -> None:
    headers = {"LOGIN": "admin", "Password": "sandbox-password", "customeruri": "sandbox"}
    response = httpx.get(f"{admin.base_url}{SSL}/types", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no headers"),
        pytest.param({"login": "admin", "customerUri": "sandbox"}, id="no password"),
        pytest.param(
            {"login": "admin", "password": "wrong", "customerUri": "sandbox"}, id="wrong password"
        ),
        pytest.param(
            {"login": "root", "password": "sandbox-password", "customerUri": "sandbox"},
            id="wrong login",
        ),
        pytest.param(
            {"login": "admin", "password": "sandbox-password", "customerUri": "other"},
            id="wrong customerUri",
        ),
        pytest.param(
            {"login": "admin", "password": "sändbox".encode(), "customerUri": "sandbox"},
            id="non-ascii password",
        ),
    ],
)
@pytest.mark.parametrize("path", [f"{SSL}/types", f"{SSL}/enroll", f"{SMIME2}", f"{SSL}/1"])
def test_bad_credentials_get_scm_401(
    admin: SandboxHandle, headers: dict[str, Any], path: str
) -> None:
    method = "POST" if path.endswith("enroll") else "GET"
    response = httpx.request(method, f"{admin.base_url}{path}", headers=headers, json={})
    assert error(response) == UNKNOWN_USER


def test_private_prefix_requires_a_client_certificate(admin: SandboxHandle) -> None:
    headers = {"login": "admin", "customerUri": "sandbox"}
    response = httpx.get(f"{admin.base_url}/private{SSL}/types", headers=headers)
    assert error(response) == UNKNOWN_USER


def test_ssl_types(scm: httpx.Client) -> None:
    profiles = scm.get(f"{SSL}/types").json()
    by_id = {p["id"]: p for p in profiles}
    assert set(profiles[0]) == {
        "id",
        "name",
        "description",
        "terms",
        "keyTypes",
        "useSecondaryOrgName",
    }
    assert by_id[51]["name"] == "OV SSL"
    assert by_id[51]["terms"] == [365, 730]
    assert by_id[51]["keyTypes"] == {
        "RSA": ["2048", "3072", "4096"],
        "EC": ["P-256", "P-384", "P-521"],
    }
    assert 52 in by_id
    assert scm.get(f"{SSL}/types", params={"organizationId": 1234}).status_code == 200
    assert error(scm.get(f"{SSL}/types", params={"organizationId": 999}))[1] == -639


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_smime_types(scm: httpx.Client, version: str) -> None:
    profiles = scm.get(f"/api/smime/{version}/types").json()
    assert {p["id"] for p in profiles} >= {61}
    assert next(p for p in profiles if p["id"] == 61)["name"] == "Client Certificate"


@pytest.mark.parametrize("path", [f"{SSL}/customFields", f"{SMIME1}/customFields"])
def test_custom_fields(scm: httpx.Client, path: str) -> None:
    fields = scm.get(path).json()
    assert all(set(f) == {"id", "name", "mandatory"} for f in fields)
    assert {f["name"] for f in fields} >= {"Cost Center", "Ticket"}
    assert not any(f["mandatory"] for f in fields)


def test_unknown_route_is_a_json_error(scm: httpx.Client) -> None:
    status, _, _ = error(scm.get("/api/nothing/here"))
    assert status == 404


def test_non_numeric_id_is_a_400(scm: httpx.Client) -> None:
    status, code, _ = error(scm.get(f"{SSL}/abc"))
    assert (status, code) == (400, -1601)
