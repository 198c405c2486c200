"""Issuance end to end: real control plane, sandbox SCM, the operator as a process (issue 6)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography import x509
from tests.fixtures.cluster import Cluster
from tests.fixtures.operator import apply, certificate, condition, get, wait_condition

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster


def secret_data(cluster: Cluster, namespace: str, name: str) -> dict[str, bytes]:
    obj = get(cluster, namespace, "secret", name)
    return {k: base64.b64decode(v) for k, v in obj["data"].items()}


def check_secret(
    cluster: Cluster, namespace: str, name: str, sandbox: SandboxHandle
) -> pki.CertInfo:
    """The Secret's certificate matches its key and chains to the sandbox root."""
    data = secret_data(cluster, namespace, name)
    assert get(cluster, namespace, "secret", name)["type"] == "kubernetes.io/tls"
    chain = pki.order_chain(pki.parse_pem_chain(data["tls.crt"]))
    key = pki.load_private_key(data["tls.key"])
    assert pki.cert_matches_key(chain.leaf, key)
    root = sandbox.root_certificate()
    pki.verify_chain(chain.leaf, chain.intermediates, [root])
    assert x509.load_pem_x509_certificate(data["ca.crt"]) == root
    return pki.cert_info(chain.leaf)


def history(obj: dict[str, Any]) -> list[str]:
    return [h["status"] for h in obj["status"].get("history", [])]


def test_ssl_and_client_certificates_become_ready(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    scm_setup()
    operator_factory(namespace)
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
    web = wait_condition(cluster, namespace, "sectigocertificate", "web")
    rsa = wait_condition(cluster, namespace, "sectigocertificate", "rsa")
    alice = wait_condition(cluster, namespace, "sectigocertificate", "alice")

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
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """spec.import is not implemented yet: it must stall clearly and never order a certificate."""
    scm_setup()
    operator_factory(namespace)
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "imported-key"},
            "stringData": {"tls.key": pki.private_key_to_pem(key, "PKCS8").decode()},
        },
        certificate(
            "imported",
            commonName="imported.example.com",
            privateKeySecretRef={"name": "imported-key"},
            **{"import": {"sslId": 12345}},
        ),
    )
    obj = wait_condition(
        cluster, namespace, "sectigocertificate", "imported", "Stalled", reason="NotSupportedYet"
    )
    assert "spec.import" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert sandbox_scm.counters()["callsByEndpoint"].get("POST /api/ssl/v1/enroll", 0) == 0
    assert sandbox_scm.orders() == []


def test_spec_change_after_issuance_is_not_reported_ready(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """Re-issuing on a spec change is day-2 work: until then Ready must not claim new names."""
    scm_setup()
    operator_factory(namespace)
    apply(cluster, namespace, certificate("site", commonName="site.example.com"))
    wait_condition(cluster, namespace, "sectigocertificate", "site")
    apply(
        cluster,
        namespace,
        certificate("site", commonName="site.example.com", dnsNames=["extra.example.com"]),
    )
    obj = wait_condition(
        cluster, namespace, "sectigocertificate", "site", "Ready", "False", reason="SpecChanged"
    )
    assert "extra.example.com" in condition(obj, "Ready")["message"]  # type: ignore[index]
    assert len(sandbox_scm.orders(common_name="site.example.com")) == 1


def test_lost_pending_key_stalls_instead_of_storing_a_wrong_key(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """If the pending key is deleted while SCM processes the order, say KeyLost; never loop."""
    scm_setup()
    operator_factory(namespace)
    apply(cluster, namespace, certificate("orphan", commonName="orphan.example.com", certType=52))
    waiting = wait_condition(
        cluster, namespace, "sectigocertificate", "orphan", "Issuing", "True", "AwaitingApproval"
    )
    cluster.kubectl("delete", "secret", "orphan-sectigo-pending-key", "-n", namespace)
    sandbox_scm.approve(waiting["status"]["sslId"])
    obj = wait_condition(
        cluster, namespace, "sectigocertificate", "orphan", "Stalled", reason="KeyLost"
    )
    assert obj["status"]["state"] == "Failed"
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert cluster.kubectl("get", "secret", "orphan-tls", "-n", namespace, check=False).returncode
    assert len(sandbox_scm.orders(common_name="orphan.example.com")) == 1
