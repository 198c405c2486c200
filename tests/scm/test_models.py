"""Wire models: camelCase bodies, tolerant answers, dates, markers, connection settings."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from sectigo_operator.scm import (
    ClientCertificate,
    CustomFieldValue,
    RetryPolicy,
    ScmConnection,
    SslCertificate,
    SslEnrollRequest,
    comments_contain_marker,
)
from sectigo_operator.scm.models import check_marker


def test_ssl_enroll_body_is_camel_case_with_comma_sans() -> None:
    request = SslEnrollRequest(
        org_id=1,
        csr="CSR",
        cert_type=2,
        term=365,
        subj_alt_names=["a.example.com", "b.example.com"],
        comments="k8s:uid:1",
        custom_fields=[CustomFieldValue(name="team", value="x")],
    )
    assert request.to_wire() == {
        "orgId": 1,
        "csr": "CSR",
        "certType": 2,
        "term": 365,
        "subjAltNames": "a.example.com,b.example.com",
        "comments": "k8s:uid:1",
        "customFields": [{"name": "team", "value": "x"}],
    }


def test_empty_sans_are_left_out() -> None:
    wire = SslEnrollRequest(org_id=1, csr="C", cert_type=2, term=365).to_wire()
    assert "subjAltNames" not in wire


def test_details_tolerate_unknown_fields_and_parse_dates() -> None:
    details = SslCertificate.model_validate(
        {
            "id": 5,
            "status": "Issued",
            "expires": "05/21/2026",
            "issued": "2025-05-21",
            "requested": "garbage",
            "brandNewField": {"x": 1},
            "orderNumber": "77",
            "backendCertId": 77,
        }
    )
    assert details.certificate_id == 5
    assert details.expires == dt.date(2026, 5, 21)
    assert details.issued == dt.date(2025, 5, 21)
    assert details.requested is None
    assert details.order_number == 77 and details.backend_cert_id == "77"
    assert details.model_extra == {"brandNewField": {"x": 1}}


@pytest.mark.parametrize(
    ("comments", "marker", "found"),
    [
        pytest.param("k8s:u:1", "k8s:u:1", True, id="exact"),
        pytest.param("ordered by team x; k8s:u:1", "k8s:u:1", True, id="after text"),
        pytest.param("k8s:u:1, other", "k8s:u:1", True, id="before comma"),
        pytest.param("k8s:u:10", "k8s:u:1", False, id="prefix of a longer marker"),
        pytest.param("xk8s:u:1", "k8s:u:1", False, id="suffix of a longer token"),
        pytest.param("", "k8s:u:1", False, id="empty"),
        pytest.param(None, "k8s:u:1", False, id="none"),
    ],
)
def test_marker_matching(comments: str | None, marker: str, found: bool) -> None:
    assert comments_contain_marker(comments, marker) is found


@pytest.mark.parametrize("marker", ["", "a b", "a,b", "a;b", "x" * 201])
def test_bad_markers_are_refused(marker: str) -> None:
    with pytest.raises(ValueError):
        check_marker(marker)


def connection(**overrides: object) -> ScmConnection:
    values: dict[str, object] = {
        "base_url": "http://127.0.0.1:1",
        "customer_uri": "cust",
        "login": "admin",
        "password": "s3cr3t-PASSWORD",
    }
    values.update(overrides)
    return ScmConnection.model_validate(values)


def test_connection_repr_hides_the_password() -> None:
    conn = connection()
    assert "s3cr3t-PASSWORD" not in repr(conn)
    assert "s3cr3t-PASSWORD" not in str(conn)
    assert "s3cr3t-PASSWORD" not in str(conn.model_dump())


@pytest.mark.parametrize(
    "overrides",
    [{"base_url": "ftp://127.0.0.1"}, {"customer_uri": ""}, {"client_certificate": {}}],
    ids=["bad url", "empty customer uri", "both credentials"],
)
def test_connection_validation_errors_hide_the_input(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        connection(**overrides)
    assert "s3cr3t-PASSWORD" not in str(info.value)
    assert "s3cr3t-PASSWORD" not in repr(info.value)
    assert "s3cr3t-PASSWORD" not in repr(info.value.errors(include_input=False))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"base_url": "http://u:p@127.0.0.1"}, id="user info in url"),
        pytest.param({"base_url": "127.0.0.1:8080"}, id="no scheme"),
        pytest.param({"password": None}, id="no credentials"),
        pytest.param(
            {"client_certificate": {"certificate_pem": b"C", "private_key_pem": b"K"}},
            id="password and certificate",
        ),
    ],
)
def test_connection_rejects(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        connection(**overrides)


def test_client_certificate_uses_private_prefix_and_hides_key() -> None:
    conn = connection(
        base_url="https://127.0.0.1:8443/",
        password=None,
        client_certificate=ClientCertificate(certificate_pem=b"C", private_key_pem=b"KEYBYTES"),
    )
    assert conn.api_root == "https://127.0.0.1:8443/private"
    assert "KEYBYTES" not in repr(conn)
    assert connection().api_root == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("attempt", "rand", "retry_after", "expected"),
    [
        pytest.param(1, 0.0, None, 1.0, id="first, no jitter"),
        pytest.param(2, 0.0, None, 2.0, id="doubles"),
        pytest.param(10, 0.0, None, 8.0, id="capped"),
        pytest.param(1, 1.0, None, 0.5, id="full jitter halves"),
        pytest.param(1, 0.0, 5.0, 5.0, id="longer Retry-After wins"),
        pytest.param(3, 0.0, 1.0, 4.0, id="shorter Retry-After loses"),
    ],
)
def test_backoff(attempt: int, rand: float, retry_after: float | None, expected: float) -> None:
    policy = RetryPolicy(initial_backoff=1, multiplier=2, max_backoff=8, jitter=0.5)
    assert policy.delay(attempt, retry_after, rand=rand) == pytest.approx(expected)


def test_scm_package_imports_neither_kopf_nor_kubernetes() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sectigo_operator.scm; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kopf', 'kubernetes')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
