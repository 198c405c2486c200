"""Issuance end to end: real control plane, sandbox SCM, the operator as a process (issue 6)."""

from __future__ import annotations

import httpx
import pytest
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    SSL_ENROLL,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    cond,
    enroll_calls,
    get,
    history,
    key_secret,
    secret_exists,
    wait_condition,
)

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.settings import LABEL_PENDING_KEY

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


def _order_at_scm(sandbox: SandboxHandle, kind: str, key: pki.PrivateKey) -> int:
    """An order placed at SCM outside the cluster (as the Vault plugin or a person would)."""
    if kind == "ssl":
        csr = pki.build_csr(key, pki.CsrRequest(common_name="legacy.example.com"))
        body = {"orgId": sandbox.org_id, "certType": 51, "term": 365, "csr": csr}
        path, field = "/api/ssl/v1/enroll", "sslId"
    else:
        csr = pki.build_csr(
            key, pki.CsrRequest(common_name="Carol", email_addresses=("carol@example.com",))
        )
        body = {
            "orgId": sandbox.org_id,
            "certType": 61,
            "term": 365,
            "csr": csr,
            "email": "carol@example.com",
            "firstName": "Carol",
            "lastName": "Legacy",
        }
        path, field = "/api/smime/v1/enroll", "orderNumber"
    answer = httpx.post(sandbox.base_url + path, json=body, headers=sandbox.auth_headers())
    assert answer.status_code == 200, answer.text
    return int(answer.json()[field])


@pytest.mark.parametrize("kind", ["ssl", "client"])
def test_import_collects_an_existing_certificate_without_ordering(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    kind: str,
) -> None:
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    number = _order_at_scm(sandbox_scm, "ssl" if kind == "ssl" else "smime", key)
    enroll = SSL_ENROLL if kind == "ssl" else "POST /api/smime/v1/enroll"
    person = (
        {"commonName": "legacy.example.com", "import": {"sslId": number}}
        if kind == "ssl"
        else {
            "certificateType": "client",
            "email": "carol@example.com",
            "firstName": "Carol",
            "lastName": "Legacy",
            "import": {"orderNumber": number},
        }
    )
    wrong = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    manifests = (
        key_secret("legacy-key", key),
        key_secret("wrong-key", wrong),
        certificate("legacy", privateKeySecretRef={"name": "legacy-key"}, **person),
        certificate("mismatch", privateKeySecretRef={"name": "wrong-key"}, **person),
        certificate("bare", **person),
    )
    # The first collect is answered at SCM but the answer is lost, and the operator dies.
    collect = "/api/ssl/v1/collect/*" if kind == "ssl" else "/api/smime/v1/collect/*"
    sandbox_scm.inject_fault("response_lost", collect)
    apply(cluster, namespace, *manifests)
    wait_for(
        lambda: sum(sandbox_scm.counters()["collectCallsByOrder"].values()) >= 1,
        timeout=30,
        what="first collect",
    )
    scm_operator.kill()
    scm_operator.start()
    obj = wait_condition(cluster, namespace, CERT, "legacy")
    for _ in range(2):  # the same manifests again: nothing to do
        apply(cluster, namespace, *manifests)
    info = check_secret(cluster, namespace, "legacy-tls", sandbox_scm)
    assert obj["status"]["serialNumber"] == info.serial_number
    assert obj["status"]["sslId" if kind == "ssl" else "orderNumber"] == number
    refused = wait_condition(cluster, namespace, CERT, "mismatch", "Stalled", reason="KeyMismatch")
    assert "spec.privateKeySecretRef" in cond(refused, "Stalled")["message"]
    assert not secret_exists(cluster, namespace, "mismatch-tls")
    # without a key: certificate and chain only, and Ready says so
    bare = wait_condition(cluster, namespace, CERT, "bare", "Ready", "False", "CertificateOnly")
    assert "without its private key" in cond(bare, "Ready")["message"]
    secret = get(cluster, namespace, "secret", "bare-tls")
    assert secret["type"] == "Opaque" and sorted(secret["data"]) == ["ca.crt", "tls.crt"]
    assert bare["status"]["serialNumber"] == info.serial_number
    assert enroll_calls(sandbox_scm, enroll) == 1  # the order made above; nothing by the operator


def test_lost_pending_key_stalls_instead_of_storing_a_wrong_key(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """If the pending key is deleted while SCM processes the order, say KeyLost; never loop.
    (A first order's key waits in the certificate's own Secret only for SCM's first answer;
    while the order waits for approval it is in the pending-key Secret.)"""
    apply(cluster, namespace, certificate("orphan", commonName="orphan.example.com", certType=52))
    waiting = wait_condition(
        cluster, namespace, CERT, "orphan", "Issuing", "True", "AwaitingApproval"
    )
    assert not secret_exists(cluster, namespace, "orphan-tls")
    held = cluster.get_json("secret", "orphan-sectigo-pending-key", "-n", namespace)
    assert held["metadata"]["labels"][LABEL_PENDING_KEY] == "true"
    assert held["metadata"]["ownerReferences"][0]["uid"] == waiting["metadata"]["uid"]
    cluster.kubectl("delete", "secret", "orphan-sectigo-pending-key", "-n", namespace)
    sandbox_scm.approve(waiting["status"]["sslId"])
    obj = wait_condition(cluster, namespace, CERT, "orphan", "Stalled", reason="KeyLost")
    assert obj["status"]["state"] == "Failed"
    assert cond(obj, "Ready")["status"] == "False"
    assert not secret_exists(cluster, namespace, "orphan-tls")
    assert len(sandbox_scm.orders(common_name="orphan.example.com")) == 1
