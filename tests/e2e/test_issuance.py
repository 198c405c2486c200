"""Issuance end to end: real control plane, sandbox SCM, the operator as a process (issue 6)."""

from __future__ import annotations

import pytest
from tests.fixtures.cluster import Cluster
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    cond,
    enroll_calls,
    history,
    key_secret,
    secret_exists,
    wait_condition,
)

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster


def test_ssl_and_client_certificates_become_ready(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        certificate(
            "web",
            commonName="web.example.com",
            dnsNames=["web.example.com", "www.example.com"],
            privateKey={"algorithm": "ECDSA", "size": 256},
        ),
        certificate(
            "rsa",
            commonName="rsa.example.com",
            privateKey={"algorithm": "RSA", "size": 2048},
        ),
        certificate(
            "alice",
            certificateType="client",
            email="alice@example.com",
            firstName="Alice",
            lastName="Liddell",
        ),
    )
    web = wait_condition(cluster, namespace, CERT, "web")
    rsa = wait_condition(cluster, namespace, CERT, "rsa")
    alice = wait_condition(cluster, namespace, CERT, "alice")

    info = check_secret(cluster, namespace, "web-tls", sandbox_scm)
    assert info.common_name == "web.example.com"
    assert set(info.dns_names) >= {"web.example.com", "www.example.com"}
    assert info.key_spec == pki.KeySpec("ECDSA", 256)
    assert check_secret(cluster, namespace, "rsa-tls", sandbox_scm).key_spec == pki.KeySpec(
        "RSA", 2048
    )
    client_info = check_secret(cluster, namespace, "alice-tls", sandbox_scm)
    assert "alice@example.com" in client_info.email_addresses

    for obj in (web, rsa, alice):
        status = obj["status"]
        assert history(obj)[-2:] == ["Applied", "Issued"]
        assert all(h["timestamp"].endswith("Z") for h in status["history"])
        assert status["serialNumber"]
        assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert web["status"]["certUniqueId"] == f"{web['status']['sslId']}_{sandbox_scm.customer_uri}"
    assert alice["status"]["certUniqueId"].endswith(f"_{sandbox_scm.customer_uri}")
    assert alice["status"]["serialNumber"] == client_info.serial_number

    table = cluster.kubectl("get", "sectigocertificates", "-n", namespace).stdout
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert rows.keys() == {"web", "rsa", "alice"}
    assert all(row[1] == "True" for row in rows.values())

    # exactly one order per certificate at the sandbox
    assert len(sandbox_scm.orders(common_name="web.example.com")) == 1
    assert len(sandbox_scm.orders(common_name="rsa.example.com")) == 1
    assert len(sandbox_scm.orders(email="alice@example.com")) == 1


def test_import_is_refused_without_ordering(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """spec.import is not implemented yet: it must stall clearly and never order a certificate."""
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    apply(
        cluster,
        namespace,
        key_secret("imported-key", key),
        certificate(
            "imported",
            commonName="imported.example.com",
            privateKeySecretRef={"name": "imported-key"},
            **{"import": {"sslId": 12345}},
        ),
    )
    obj = wait_condition(cluster, namespace, CERT, "imported", "Stalled", reason="NotSupportedYet")
    assert "spec.import" in cond(obj, "Ready")["message"]
    assert enroll_calls(sandbox_scm) == 0
    assert sandbox_scm.orders() == []


def test_lost_pending_key_stalls_instead_of_storing_a_wrong_key(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """If the pending key is deleted while SCM processes the order, say KeyLost; never loop."""
    apply(cluster, namespace, certificate("orphan", commonName="orphan.example.com", certType=52))
    waiting = wait_condition(
        cluster, namespace, CERT, "orphan", "Issuing", "True", "AwaitingApproval"
    )
    cluster.kubectl("delete", "secret", "orphan-sectigo-pending-key", "-n", namespace)
    sandbox_scm.approve(waiting["status"]["sslId"])
    obj = wait_condition(cluster, namespace, CERT, "orphan", "Stalled", reason="KeyLost")
    assert obj["status"]["state"] == "Failed"
    assert cond(obj, "Ready")["status"] == "False"
    assert not secret_exists(cluster, namespace, "orphan-tls")
    assert len(sandbox_scm.orders(common_name="orphan.example.com")) == 1
