"""Checklist 23: the sandbox-only admin endpoint, counters and fault injection."""

from __future__ import annotations

import time

import httpx
import pytest

from sectigo_operator.sandbox.config import FaultRule, SandboxConfig
from sectigo_operator.sandbox.testing import SandboxHandle

from .helpers import SSL, enroll_ssl, error, make_csr, ssl_body


def test_orders_listing_and_counters(scm: httpx.Client, admin: SandboxHandle) -> None:
    ssl_id = enroll_ssl(scm, comments="k8s:one:1")
    enroll_ssl(scm, comments="k8s:two:1", csr=make_csr("b.example.com"))
    scm.get(f"{SSL}/collect/{ssl_id}")
    rows = admin.orders(common_name="app.example.com")
    assert [(r["kind"], r["id"], r["status"], r["comments"], r["collectCalls"]) for r in rows] == [
        ("ssl", ssl_id, "Issued", "k8s:one:1", 1)
    ]
    assert len(admin.orders(kind="ssl")) == 2 and admin.orders(kind="smime") == []
    counters = admin.counters()
    assert counters["enrollsByCommonName"] == {"app.example.com": 1, "b.example.com": 1}
    assert counters["callsByEndpoint"]["POST /api/ssl/v1/enroll"] == 2
    assert counters["callsByEndpoint"]["GET /api/ssl/v1/collect/{sslId}"] == 1


@pytest.mark.parametrize(
    ("action", "status"),
    [("approve", "Issued"), ("decline", "Declined"), ("reject", "Rejected"), ("issue", "Issued")],
)
def test_admin_actions_on_a_requested_order(
    scm: httpx.Client, admin: SandboxHandle, action: str, status: str
) -> None:
    ssl_id = enroll_ssl(scm, certType=52)
    row = getattr(admin, action)(ssl_id)
    assert row["status"] == status
    assert scm.get(f"{SSL}/{ssl_id}").json()["status"] == status


def test_admin_expire_and_revoke(scm: httpx.Client, admin: SandboxHandle) -> None:
    ssl_id = enroll_ssl(scm)
    assert admin.expire(ssl_id)["status"] == "Expired"
    other = enroll_ssl(scm)
    assert admin.revoke(other, reason_code=4)["reasonCode"] == 4
    with pytest.raises(httpx.HTTPStatusError) as raised:
        admin.revoke(other)
    assert raised.value.response.status_code == 409


def test_error_fault_is_scoped_and_counted(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.inject_fault(
        "error",
        f"{SSL}/enroll",
        count=2,
        status=400,
        code=-195,
        description="CA is not available now, please try later.",
    )
    body = ssl_body()
    assert error(scm.post(f"{SSL}/enroll", json=body))[:2] == (400, -195)
    assert scm.get(f"{SSL}/types").status_code == 200  # other paths unaffected
    assert error(scm.post(f"{SSL}/enroll", json=body))[:2] == (400, -195)
    assert scm.post(f"{SSL}/enroll", json=body).status_code == 200
    assert admin.faults() == []


def test_5xx_and_429_faults(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.inject_fault("error", "/api/*", status=503)
    assert scm.get(f"{SSL}/types").status_code == 503
    admin.inject_fault("rate_limit", "/api/*", retry_after=7)
    response = scm.get(f"{SSL}/types")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert scm.get(f"{SSL}/types").status_code == 200


def test_method_scoped_fault_and_unlimited_count(scm: httpx.Client, admin: SandboxHandle) -> None:
    fault_id = admin.inject_fault("error", f"{SSL}*", method="POST", count=None, status=500)
    for _ in range(3):
        assert scm.post(f"{SSL}/enroll", json=ssl_body()).status_code == 500
    assert scm.get(SSL).status_code == 200
    assert [f["id"] for f in admin.faults()] == [fault_id]
    admin.clear_faults()
    assert scm.post(f"{SSL}/enroll", json=ssl_body()).status_code == 200


def test_latency_fault(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.inject_fault("latency", f"{SSL}/types", latency_seconds=0.3)
    start = time.monotonic()
    assert scm.get(f"{SSL}/types").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_connection_reset(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.inject_fault("reset", f"{SSL}/enroll")
    with pytest.raises(httpx.TransportError):
        scm.post(f"{SSL}/enroll", json=ssl_body())
    assert admin.orders() == []  # dropped before handling


def test_response_lost_commits_the_order(scm: httpx.Client, admin: SandboxHandle) -> None:
    admin.inject_fault("response_lost", f"{SSL}/enroll")
    with pytest.raises(httpx.TransportError):
        scm.post(f"{SSL}/enroll", json=ssl_body(comments="k8s:lost:1"))
    orders = admin.orders(common_name="app.example.com")
    assert [o["comments"] for o in orders] == ["k8s:lost:1"]
    found = scm.get(SSL, params={"commonName": "app.example.com"}).json()
    details = scm.get(f"{SSL}/{found[0]['sslId']}").json()
    assert details["comments"] == "k8s:lost:1"


@pytest.mark.parametrize(
    "settings",
    [
        {"pendingCode": 5},
        {"strictReasonCode": "yes"},
        {"issueAfterCollects": -1},
        {"nope": 1},
        {"issueDelaySeconds": True},
        {"approvalMode": "sometimes"},
    ],
)
def test_settings_validation(admin: SandboxHandle, settings: dict[str, object]) -> None:
    with pytest.raises(httpx.HTTPStatusError) as raised:
        admin.update_settings(**settings)
    assert raised.value.response.status_code == 400


def test_bad_fault_rule_is_400(admin: SandboxHandle) -> None:
    response = httpx.post(f"{admin.admin_url}/faults", json={"kind": "explode"})
    assert error(response)[0] == 400


def test_reset_forgets_everything_but_the_ca(scm: httpx.Client, admin: SandboxHandle) -> None:
    root = admin.root_pem
    enroll_ssl(scm)
    admin.inject_fault("error", "/nothing")
    admin.update_settings(pendingCode=-1400)
    admin.reset()
    assert admin.orders() == []
    assert admin.faults() == []
    assert admin.settings()["pendingCode"] == 0
    assert admin.counters()["enrollsByCommonName"] == {}
    assert admin.root_pem == root


class TestConfiguredFaultsAndApproval:
    @pytest.fixture
    def sandbox_config(self) -> SandboxConfig:
        return SandboxConfig(
            approval_mode="always",
            faults=[FaultRule(kind="error", path=f"{SSL}/types", status=502)],
        )

    def test_config_faults_and_approval(
        self, own_scm: httpx.Client, sandbox_scm: SandboxHandle
    ) -> None:
        assert own_scm.get(f"{SSL}/types").status_code == 502
        assert own_scm.get(f"{SSL}/types").status_code == 200
        ssl_id = enroll_ssl(own_scm, certType=51)
        assert own_scm.get(f"{SSL}/{ssl_id}").json()["status"] == "Requested"
        assert sandbox_scm.approve(ssl_id)["status"] == "Issued"
