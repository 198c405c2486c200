"""Certificate lifecycle end to end (issue 9): renewal, Secret drift, spec changes, outputs.

Real control plane, sandbox SCM and the operator as a process. Renewal windows are reached with
the sandbox's ``lifetimeSeconds`` setting (certificates valid for seconds, not days); every wait
polls the API with a deadline.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    load_der_private_key,
    pkcs12,
)
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    cond,
    enroll_calls,
    get,
    history,
    issued_pair,
    secret_data,
    wait_condition,
)

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

SSL_RENEW = "POST /api/ssl/v1/renewById/*"


def calls(sandbox: SandboxHandle, prefix: str) -> int:
    """SCM calls whose endpoint starts with ``prefix`` (method and path)."""
    counted = sandbox.counters()["callsByEndpoint"]
    return sum(int(n) for endpoint, n in counted.items() if endpoint.startswith(prefix))


def serial_of(cluster: Cluster, namespace: str, secret: str, sandbox: SandboxHandle) -> str:
    return issued_pair(cluster, namespace, secret, sandbox)[0].serial_number


class SecretSampler:
    """Reads a Secret in a loop and records every state it sees (missing, or key mismatch)."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.samples = 0
        self.problems: list[str] = []
        self.serials: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            result = self.cluster.kubectl(
                "get", "secret", self.name, "-n", self.namespace, "-o", "json", check=False
            )
            self.samples += 1
            if result.returncode != 0:
                self.problems.append("missing")
                continue
            data = {k: base64.b64decode(v) for k, v in json.loads(result.stdout)["data"].items()}
            leaf = pki.order_chain(pki.parse_pem_chain(data["tls.crt"])).leaf
            key = pki.load_private_key(data["tls.key"])
            if not pki.cert_matches_key(leaf, key):
                self.problems.append("mismatch")
            self.serials.add(pki.cert_info(leaf).serial_number)

    def __enter__(self) -> SecretSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(30)


def test_automatic_renewal_once_with_a_new_key_and_the_secret_always_whole(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    sandbox_scm.update_settings(lifetimeSeconds=30)
    apply(cluster, namespace, certificate("auto", commonName="auto.example.com"))
    first = wait_condition(cluster, namespace, CERT, "auto")
    sandbox_scm.update_settings(lifetimeSeconds=0)  # the renewal gets a normal term
    old_info, old_key = issued_pair(cluster, namespace, "auto-tls", sandbox_scm)
    assert first["status"]["renewalTime"] < first["status"]["notAfter"]

    with SecretSampler(cluster, namespace, "auto-tls") as sampler:

        def renewed() -> dict[str, Any] | None:
            obj = get(cluster, namespace, CERT, "auto")
            done = obj["status"].get("serialNumber") != old_info.serial_number
            return obj if done and cond(obj, "Ready")["status"] == "True" else None

        obj = wait_for(renewed, timeout=60, what="renewal")
    assert sampler.samples > 3 and sampler.problems == []
    assert len(sampler.serials) == 2  # the old pair, then the new pair; never anything else

    info, key = issued_pair(cluster, namespace, "auto-tls", sandbox_scm)
    assert info.serial_number == obj["status"]["serialNumber"]
    assert pki.private_key_to_pem(key) != pki.private_key_to_pem(old_key)  # rotationPolicy Always
    assert (info.not_after - info.not_before).days == 365
    assert history(obj)[-3:] == ["Renewing", "Applied", "Issued"]
    assert obj["status"]["sslId"] != first["status"]["sslId"]  # renewById: a new order
    assert sandbox_scm.counters()["renewals"] == 1
    assert enroll_calls(sandbox_scm) == 1
    orders = sandbox_scm.orders(common_name="auto.example.com")
    assert [o["renewedFrom"] for o in orders if o["renewedFrom"]] == [first["status"]["sslId"]]
    assert not any(
        s["metadata"]["name"].endswith("pending-key")
        for s in cluster.get_json("secrets", "-n", namespace)["items"]
    )


def test_renewal_survives_a_sigkill_right_after_the_renew_call(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
) -> None:
    """The renew answer is lost (the operator dies before recording it): one renewal, adopted."""
    sandbox_scm.update_settings(lifetimeSeconds=20)
    apply(cluster, namespace, certificate("crash", commonName="crash.example.com"))
    first = wait_condition(cluster, namespace, CERT, "crash")
    sandbox_scm.update_settings(lifetimeSeconds=0)
    sandbox_scm.inject_fault("response_lost", "/api/ssl/v1/renewById/*")
    wait_for(lambda: sandbox_scm.counters()["renewals"] == 1, timeout=60, what="renew call")
    scm_operator.kill()
    scm_operator.start()

    def renewed() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "crash")
        new = obj["status"].get("sslId") != first["status"]["sslId"]
        done = obj["status"].get("state") == "Issued"  # Ready stays True while renewing
        return obj if new and done and cond(obj, "Ready")["status"] == "True" else None

    obj = wait_for(renewed, timeout=60, what="adopted renewal")
    assert sandbox_scm.counters()["renewals"] == 1
    assert calls(sandbox_scm, "POST /api/ssl/v1/renewById") == 1
    info = check_secret(cluster, namespace, "crash-tls", sandbox_scm)
    assert info.serial_number == obj["status"]["serialNumber"]


def test_renew_request_acts_once_per_id(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(cluster, namespace, certificate("manual", commonName="manual.example.com"))
    first = wait_condition(cluster, namespace, CERT, "manual")
    wanted = certificate("manual", commonName="manual.example.com", renewRequest={"id": "r1"})
    apply(cluster, namespace, wanted)

    def renewed() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "manual")
        done = obj["status"].get("lastRenewRequestId") == "r1"
        return obj if done and cond(obj, "Ready")["status"] == "True" else None

    obj = wait_for(renewed, timeout=30, what="renew request r1")
    for _ in range(2):  # the same manifest again: nothing to do
        apply(cluster, namespace, wanted)
    wait_condition(cluster, namespace, CERT, "manual")
    assert (
        get(cluster, namespace, CERT, "manual")["status"]["serialNumber"]
        == (obj["status"]["serialNumber"])
    )
    assert obj["status"]["serialNumber"] != first["status"]["serialNumber"]
    assert sandbox_scm.counters()["renewals"] == 1
    assert enroll_calls(sandbox_scm) == 1


def test_expired_without_auto_renewal_is_not_ready(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    sandbox_scm.update_settings(lifetimeSeconds=8)
    apply(
        cluster,
        namespace,
        certificate("lapse", commonName="lapse.example.com", renewal={"autoRenew": False}),
    )
    wait_condition(cluster, namespace, CERT, "lapse")
    obj = wait_condition(cluster, namespace, CERT, "lapse", "Ready", "False", "Expired", 30)
    assert "automatic renewal is off" in cond(obj, "Ready")["message"]
    assert sandbox_scm.counters()["renewals"] == 0
    assert enroll_calls(sandbox_scm) == 1


def test_deleted_secret_is_back_within_seconds_without_a_new_order(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(cluster, namespace, certificate("gone", commonName="gone.example.com"))
    first = wait_condition(cluster, namespace, CERT, "gone")
    cluster.kubectl("delete", "secret", "gone-tls", "-n", namespace)

    def restored() -> pki.CertInfo | None:
        result = cluster.kubectl("get", "secret", "gone-tls", "-n", namespace, check=False)
        return (
            check_secret(cluster, namespace, "gone-tls", sandbox_scm)
            if result.returncode == 0
            else None
        )

    info = wait_for(restored, timeout=10, what="Secret recreated")
    assert info.serial_number != first["status"]["serialNumber"]  # replaced with a new key
    obj = wait_condition(cluster, namespace, CERT, "gone")
    assert obj["status"]["sslId"] == first["status"]["sslId"]  # same SCM certificate
    assert enroll_calls(sandbox_scm) == 1
    assert sandbox_scm.counters()["replacements"] == 1


def test_edited_secret_certificate_is_restored_by_collecting_again(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(cluster, namespace, certificate("edit", commonName="edit.example.com"))
    wait_condition(cluster, namespace, CERT, "edit")
    before = secret_data(cluster, namespace, "edit-tls")
    chain = pki.parse_pem_chain(before["tls.crt"])
    only_ca = "".join(
        c.public_bytes(Encoding.PEM).decode()
        for c in chain
        if pki.cert_info(c).common_name != "edit.example.com"
    )
    cluster.kubectl(
        "patch",
        "secret",
        "edit-tls",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"data": {"tls.crt": "' + base64.b64encode(only_ca.encode()).decode() + '"}}',
    )
    wait_for(
        lambda: secret_data(cluster, namespace, "edit-tls")["tls.crt"] == before["tls.crt"],
        timeout=10,
        what="certificate restored",
    )
    assert secret_data(cluster, namespace, "edit-tls")["tls.key"] == before["tls.key"]
    assert enroll_calls(sandbox_scm) == 1
    assert sandbox_scm.counters()["replacements"] == 0
    assert sandbox_scm.counters()["renewals"] == 0


def test_a_secret_taken_over_by_removing_our_labels_is_reported_and_given_back(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """Only labelled Secrets are watched (a server-side selector): a Secret whose labels are
    removed leaves the watch, and the certificate says at once that its Secret is no longer
    the operator's (it never overwrites a Secret it does not manage); labelled again, it is
    Ready again from the same order and key."""
    apply(cluster, namespace, certificate("owned", commonName="owned.example.com"))
    wait_condition(cluster, namespace, CERT, "owned")
    before = secret_data(cluster, namespace, "owned-tls")
    cluster.kubectl(
        "label", "secret", "owned-tls", "-n", namespace, "app.kubernetes.io/managed-by-"
    )
    obj = wait_condition(
        cluster, namespace, CERT, "owned", status="False", reason="SecretNotManaged", timeout=10
    )
    assert "owned-tls" in cond(obj, "Ready")["message"]
    assert secret_data(cluster, namespace, "owned-tls") == before  # never overwritten
    cluster.kubectl(
        "label",
        "secret",
        "owned-tls",
        "-n",
        namespace,
        "app.kubernetes.io/managed-by=sectigo-operator",
    )
    wait_condition(cluster, namespace, CERT, "owned", timeout=10)
    assert secret_data(cluster, namespace, "owned-tls") == before
    assert enroll_calls(sandbox_scm) == 1
    assert sandbox_scm.counters()["replacements"] == 0


def test_a_restart_judges_settled_certificates_from_the_watch_and_repairs_the_rest(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """What changed while the operator was down is found after its restart (the Secret watch's
    digest differs from status.secretDigest, or the Secret is gone); an untouched certificate is
    judged from the watch alone, with no read, no SCM call and no write."""
    for name in ("calm", "down-gone", "down-edit"):
        apply(cluster, namespace, certificate(name, commonName=f"{name}.example.com"))
    calm = wait_condition(cluster, namespace, CERT, "calm")
    for name in ("down-gone", "down-edit"):
        wait_condition(cluster, namespace, CERT, name)
    edited_before = secret_data(cluster, namespace, "down-edit-tls")
    scm_operator.stop()

    cluster.kubectl("delete", "secret", "down-gone-tls", "-n", namespace)
    leaf_only = pki.parse_pem_chain(edited_before["tls.crt"])[0].public_bytes(Encoding.PEM)
    cluster.kubectl(
        "patch", "secret", "down-edit-tls", "-n", namespace, "--type=merge", "-p",
        '{"data": {"tls.crt": "' + base64.b64encode(leaf_only).decode() + '"}}',
    )  # fmt: skip
    counters = sandbox_scm.counters()
    scm_operator.start()

    wait_for(
        lambda: (
            secret_data(cluster, namespace, "down-edit-tls")["tls.crt"] == edited_before["tls.crt"]
        ),
        timeout=30,
        what="edited Secret restored after the restart",
    )
    wait_for(
        lambda: (
            cluster.kubectl(
                "get", "secret", "down-gone-tls", "-n", namespace, check=False
            ).returncode
            == 0
        ),
        timeout=30,
        what="deleted Secret back after the restart",
    )
    check_secret(cluster, namespace, "down-gone-tls", sandbox_scm)
    for name in ("calm", "down-gone", "down-edit"):
        wait_condition(cluster, namespace, CERT, name)
    settled = "is settled: judged without reading"
    logs = scm_operator.logs()
    assert f"{namespace}/calm {settled}" in logs
    assert f"{namespace}/down-gone {settled}" not in logs
    assert f"{namespace}/down-edit {settled}" not in logs
    after = sandbox_scm.counters()
    assert enroll_calls(sandbox_scm) == 3  # no new order for any of them
    assert after["replacements"] == counters["replacements"] + 1  # the deleted one's new key
    now = get(cluster, namespace, CERT, "calm")
    assert now["metadata"]["resourceVersion"] == calm["metadata"]["resourceVersion"]


@pytest.mark.parametrize(
    ("change", "replaced", "ordered"),
    [
        pytest.param({"dnsNames": ["row.example.com", "extra.example.com"]}, 1, 1, id="names"),
        pytest.param({"privateKey": {"algorithm": "RSA", "size": 2048}}, 1, 1, id="key"),
        pytest.param({"term": 730}, 0, 2, id="term"),
        pytest.param(
            {"certType": 54, "privateKey": {"algorithm": "RSA", "size": 2048}},
            0,
            2,
            id="profile (and key)",
        ),
        pytest.param({"secretTemplate": {"labels": {"team": "web"}}}, 0, 1, id="template"),
        pytest.param({"historyLimit": 5, "comments": "changed"}, 0, 1, id="history+comments"),
        pytest.param(
            {"additionalOutputFormats": [{"type": "DER"}], "format": "pemco"},
            0,
            1,
            id="outputs and format",
        ),
    ],
)
def test_spec_change_table(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    change: dict[str, Any],
    replaced: int,
    ordered: int,
) -> None:
    """Each row of the spec-change table (docs/api.md): which SCM calls a change makes."""
    base = {"commonName": "row.example.com", "privateKey": {"algorithm": "ECDSA", "size": 256}}
    apply(cluster, namespace, certificate("row", **base))
    first = wait_condition(cluster, namespace, CERT, "row")
    collects = calls(sandbox_scm, "GET /api/ssl/v1/collect")
    apply(cluster, namespace, certificate("row", **{**base, **change}))

    def settled() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "row")
        ok = obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        idle = cond(obj, "Issuing")["status"] == "False" and obj["status"]["state"] == "Issued"
        return obj if ok and idle and cond(obj, "Ready")["status"] == "True" else None

    obj = wait_for(settled, timeout=30, what="Ready for the new spec")
    info = check_secret(cluster, namespace, "row-tls", sandbox_scm)
    assert sandbox_scm.counters()["replacements"] == replaced
    assert enroll_calls(sandbox_scm) == ordered
    assert sandbox_scm.counters()["renewals"] == 0
    if replaced or ordered > 1:
        assert obj["status"]["serialNumber"] != first["status"]["serialNumber"]
    else:
        assert obj["status"]["serialNumber"] == first["status"]["serialNumber"]
        assert calls(sandbox_scm, "GET /api/ssl/v1/collect") == collects  # no SCM call at all
    if "dnsNames" in change:
        assert "extra.example.com" in info.dns_names
        assert obj["status"]["sslId"] == first["status"]["sslId"]
    if "privateKey" in change:
        assert info.key_spec == pki.KeySpec("RSA", 2048)
    if "term" in change:
        assert (info.not_after - info.not_before).days == 730
    if "format" in change:
        data = secret_data(cluster, namespace, "row-tls")
        assert pki.parse_pem_chain(data["certificate.pemco.pem"]) == [
            pki.order_chain(pki.parse_pem_chain(data["tls.crt"])).leaf
        ]
        assert "key.der" in data
    if "secretTemplate" in change:
        secret = get(cluster, namespace, "secret", "row-tls")
        assert secret["metadata"]["labels"]["team"] == "web"


def p12_password(password: str) -> dict[str, Any]:
    """The Secret holding the keystore password of the outputs test."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "p12-password"},
        "stringData": {"password": password},
    }


def test_additional_output_formats_decode_with_key_and_password(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        p12_password("correct horse"),
        certificate(
            "outputs",
            commonName="outputs.example.com",
            additionalOutputFormats=[
                {"type": "CombinedPEM"},
                {"type": "DER"},
                {"type": "PKCS12", "passwordSecretRef": {"name": "p12-password"}},
            ],
        ),
    )
    wait_condition(cluster, namespace, CERT, "outputs")
    data = secret_data(cluster, namespace, "outputs-tls")
    info, key = issued_pair(cluster, namespace, "outputs-tls", sandbox_scm)
    combined = data["tls-combined.pem"]
    assert pki.load_private_key(combined).public_key() == key.public_key()
    assert pki.cert_info(pki.order_chain(pki.parse_pem_chain(combined)).leaf) == info
    assert load_der_private_key(data["key.der"], None).public_key() == key.public_key()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data["keystore.p12"], b"wrong")
    p12_key, p12_cert, cas = pkcs12.load_key_and_certificates(
        data["keystore.p12"], b"correct horse"
    )
    assert p12_cert is not None and pki.cert_info(p12_cert) == info
    assert p12_key is not None and p12_key.public_key() == key.public_key()
    assert len(cas) >= 1

    # A new keystore password takes effect when the keystore is written again: removing it from
    # the Secret (docs/operations.md) has it rebuilt from the certificate collected again, with
    # the password the Secret holds now; nothing is ordered.
    enrolls = enroll_calls(sandbox_scm)
    apply(cluster, namespace, p12_password("battery staple"))
    cluster.kubectl(
        "patch", "secret", "outputs-tls", "-n", namespace, "--type=json",
        "-p", '[{"op": "remove", "path": "/data/keystore.p12"}]',
    )  # fmt: skip
    rebuilt = wait_for(
        lambda: secret_data(cluster, namespace, "outputs-tls").get("keystore.p12"),
        timeout=60,
        what="keystore.p12 written again",
    )
    p12_key, p12_cert, _ = pkcs12.load_key_and_certificates(rebuilt, b"battery staple")
    assert p12_cert is not None and pki.cert_info(p12_cert) == info
    assert p12_key is not None and p12_key.public_key() == key.public_key()
    assert enroll_calls(sandbox_scm) == enrolls


def test_certificate_revoked_at_scm_behind_the_operators_back_is_reported(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    scm_setup()
    operator_factory(namespace, SECTIGO_OPERATOR_SCM_DRIFT_CHECK_SECONDS="10")
    apply(
        cluster,
        namespace,
        certificate("victim", commonName="victim.example.com"),
        certificate("bystander", commonName="bystander.example.com"),
    )
    victim = wait_condition(cluster, namespace, CERT, "victim")
    wait_condition(cluster, namespace, CERT, "bystander")
    sandbox_scm.revoke(victim["status"]["sslId"], 1)
    obj = wait_condition(cluster, namespace, CERT, "victim", "Ready", "False", "Revoked", 40)
    assert "revoked outside the cluster" in cond(obj, "Ready")["message"]
    assert obj["status"]["state"] == "Revoked" and history(obj)[-1] == "Revoked"
    events = cluster.get_json("events", "-n", namespace)["items"]
    assert any(
        e["reason"] == "Revoked"
        and e["type"] == "Warning"
        and e["involvedObject"]["name"] == "victim"
        for e in events
    )
    assert cond(get(cluster, namespace, CERT, "bystander"), "Ready")["status"] == "True"
    assert sandbox_scm.counters()["renewals"] == 0 and enroll_calls(sandbox_scm) == 2


@pytest.mark.parametrize(
    ("rotation", "renewals", "enrolls"),
    [
        pytest.param("Always", 0, 2, id="new key: enrolled anew"),
        pytest.param("Never", 1, 1, id="same key: renew by order"),
    ],
)
def test_client_certificate_renewal(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    rotation: str,
    renewals: int,
    enrolls: int,
) -> None:
    sandbox_scm.update_settings(lifetimeSeconds=20)
    apply(
        cluster,
        namespace,
        certificate(
            "bob",
            certificateType="client",
            email="bob@example.com",
            firstName="Bob",
            lastName="Builder",
            privateKey={"algorithm": "ECDSA", "size": 256, "rotationPolicy": rotation},
        ),
    )
    first = wait_condition(cluster, namespace, CERT, "bob")
    sandbox_scm.update_settings(lifetimeSeconds=0)
    _, old_key = issued_pair(cluster, namespace, "bob-tls", sandbox_scm)

    def renewed() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "bob")
        new = obj["status"].get("orderNumber") != first["status"]["orderNumber"]
        done = obj["status"].get("state") == "Issued"  # Ready stays True while renewing
        return obj if new and done and cond(obj, "Ready")["status"] == "True" else None

    obj = wait_for(renewed, timeout=60, what="client renewal")
    info, key = issued_pair(cluster, namespace, "bob-tls", sandbox_scm)
    assert "bob@example.com" in info.email_addresses
    assert history(obj)[-3:] == ["Renewing", "Applied", "Issued"]
    same_key = pki.private_key_to_pem(key) == pki.private_key_to_pem(old_key)
    assert same_key == (rotation == "Never")
    assert sandbox_scm.counters()["renewals"] == renewals
    assert enroll_calls(sandbox_scm, "POST /api/smime/v1/enroll") == enrolls


def _settled(cluster: Cluster, namespace: str, name: str, field: str, value: str) -> Any:
    def probe() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, name)
        status = obj.get("status", {})
        idle = cond(obj, "Issuing")["status"] == "False"
        return obj if status.get(field) == value and idle else None

    return wait_for(probe, timeout=40, what=f"{name} {field}={value}")


@pytest.mark.parametrize("crash", [False, True], ids=["applied three times", "SIGKILL"])
def test_replace_request_acts_once_per_id(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    crash: bool,
) -> None:
    apply(cluster, namespace, certificate("swap", commonName="swap.example.com"))
    first = wait_condition(cluster, namespace, CERT, "swap")
    wanted = certificate(
        "swap",
        commonName="swap.example.com",
        replaceRequest={"id": "x1", "reason": "key compromised"},
    )
    if crash:  # SCM replaces, the answer never arrives, the operator dies
        sandbox_scm.inject_fault("response_lost", "/api/ssl/v1/replace/*")
    apply(cluster, namespace, wanted)
    if crash:
        wait_for(lambda: sandbox_scm.counters()["replacements"] == 1, timeout=30, what="replace")
        scm_operator.kill()
        scm_operator.start()
    obj = _settled(cluster, namespace, "swap", "lastReplaceRequestId", "x1")
    for _ in range(2):
        apply(cluster, namespace, wanted)
    wait_condition(cluster, namespace, CERT, "swap")
    assert cond(obj, "Ready")["status"] == "True"
    info = check_secret(cluster, namespace, "swap-tls", sandbox_scm)
    assert info.serial_number == obj["status"]["serialNumber"] != first["status"]["serialNumber"]
    assert obj["status"]["sslId"] == first["status"]["sslId"]
    assert sandbox_scm.counters()["replacements"] == 1
    assert calls(sandbox_scm, "POST /api/ssl/v1/replace") == 1
    assert enroll_calls(sandbox_scm) == 1
    assert history(obj)[-3:] == ["Replacing", "Applied", "Issued"]


@pytest.mark.parametrize("crash", [False, True], ids=["applied three times", "SIGKILL"])
def test_revoke_request_acts_once_per_id_and_keeps_the_secret(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    crash: bool,
) -> None:
    apply(cluster, namespace, certificate("doomed", commonName="doomed.example.com"))
    first = wait_condition(cluster, namespace, CERT, "doomed")
    wanted = certificate(
        "doomed",
        commonName="doomed.example.com",
        revokeRequest={"id": "v1", "reasonCode": 4, "reason": "superseded"},
    )
    if crash:
        sandbox_scm.inject_fault("response_lost", "/api/ssl/v1/revoke/*")
    apply(cluster, namespace, wanted)
    if crash:
        wait_for(lambda: sandbox_scm.counters()["revocations"] == 1, timeout=30, what="revoke")
        scm_operator.kill()
        scm_operator.start()
    obj = wait_condition(cluster, namespace, CERT, "doomed", "Ready", "False", "Revoked", 40)
    for _ in range(2):
        apply(cluster, namespace, wanted)
    obj = _settled(cluster, namespace, "doomed", "lastRevokeRequestId", "v1")
    assert obj["status"]["state"] == "Revoked"
    assert sandbox_scm.counters()["revocations"] == 1
    order = sandbox_scm.orders(common_name="doomed.example.com")[0]
    assert order["status"] == "Revoked" and order["reasonCode"] == 4
    # the Secret is kept as it was (documented in docs/api.md)
    assert (
        check_secret(cluster, namespace, "doomed-tls", sandbox_scm).serial_number
        == (first["status"]["serialNumber"])
    )
    assert sandbox_scm.counters()["renewals"] == 0 and enroll_calls(sandbox_scm) == 1


FINALIZER = "sectigo-operator.io/deletion-policy"


def _gone(cluster: Cluster, namespace: str, kind: str, name: str) -> bool:
    return cluster.kubectl("get", kind, name, "-n", namespace, check=False).returncode != 0


@pytest.mark.parametrize(
    ("policy", "secret_kept", "revoked"),
    [
        pytest.param("Retain", True, 0, id="Retain"),
        pytest.param("DeleteSecret", False, 0, id="DeleteSecret"),
        pytest.param("Revoke", False, 1, id="Revoke"),
    ],
)
def test_deletion_policies(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
    policy: str,
    secret_kept: bool,
    revoked: int,
) -> None:
    apply(
        cluster,
        namespace,
        certificate("bye", commonName="bye.example.com", deletionPolicy=policy),
    )
    obj = wait_condition(cluster, namespace, CERT, "bye")
    has_finalizer = FINALIZER in (obj["metadata"].get("finalizers") or [])
    assert has_finalizer == (policy != "Retain")  # only a policy that needs it holds deletion
    # the policy decides the issued Secret's fate, not the garbage collector: the ownerReference
    # the Secret carried while it held only the first order's key is gone with it
    secret = cluster.get_json("secret", "bye-tls", "-n", namespace)
    assert not secret["metadata"].get("ownerReferences")
    cluster.kubectl("delete", CERT, "bye", "-n", namespace, "--wait=false")
    wait_for(lambda: _gone(cluster, namespace, CERT, "bye"), timeout=30, what="deleted")
    wait_for(
        lambda: _gone(cluster, namespace, "secret", "bye-tls") != secret_kept,
        timeout=10,
        what="Secret per policy",
    )
    assert sandbox_scm.counters()["revocations"] == revoked
    if revoked:
        order = sandbox_scm.orders(common_name="bye.example.com")[0]
        assert order["status"] == "Revoked" and order["reasonCode"] == 5
    if secret_kept:  # applied again: the kept certificate is adopted, nothing is ordered
        apply(
            cluster,
            namespace,
            certificate("bye", commonName="bye.example.com", deletionPolicy=policy),
        )
        again = wait_condition(cluster, namespace, CERT, "bye")
        assert again["metadata"]["uid"] != obj["metadata"]["uid"]
        assert again["status"]["sslId"] == obj["status"]["sslId"]
        assert len(sandbox_scm.orders(common_name="bye.example.com")) == 1
        kept = cluster.get_json("secret", "bye-tls", "-n", namespace)
        assert kept["data"]["tls.key"] == secret["data"]["tls.key"]
        assert kept["data"]["tls.crt"] == secret["data"]["tls.crt"]


def test_a_client_certificate_applied_again_adopts_the_secret_it_kept(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_operator: OperatorProcess,
) -> None:
    """A client certificate is collected by its backendCertId, which the kept Secret records:
    deleted (Retain) and applied again, it is adopted with its key; nothing is enrolled."""
    manifest = certificate(
        "carol",
        certificateType="client",
        email="carol@example.com",
        firstName="Carol",
        lastName="Kept",
    )
    apply(cluster, namespace, manifest)
    first = wait_condition(cluster, namespace, CERT, "carol")
    secret = cluster.get_json("secret", "carol-tls", "-n", namespace)
    cluster.kubectl("delete", CERT, "carol", "-n", namespace, "--wait=false")
    wait_for(lambda: _gone(cluster, namespace, CERT, "carol"), timeout=30, what="deleted")
    apply(cluster, namespace, manifest)
    again = wait_condition(cluster, namespace, CERT, "carol")
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    for field in ("orderNumber", "backendCertId", "fingerprint"):
        assert again["status"][field] == first["status"][field], field
    assert enroll_calls(sandbox_scm, "POST /api/smime/v1/enroll") == 1
    kept = cluster.get_json("secret", "carol-tls", "-n", namespace)
    assert kept["data"]["tls.key"] == secret["data"]["tls.key"]


def test_revoke_on_delete_gives_up_within_the_bound_when_scm_is_down(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    scm_setup()
    operator_factory(namespace, SECTIGO_OPERATOR_REVOKE_ON_DELETE_TIMEOUT_SECONDS="6")
    apply(
        cluster,
        namespace,
        certificate("stuck", commonName="stuck.example.com", deletionPolicy="Revoke"),
    )
    wait_condition(cluster, namespace, CERT, "stuck")
    sandbox_scm.inject_fault("reset", "/api/*", count=None)  # SCM unreachable from now on
    started = time.monotonic()
    cluster.kubectl("delete", CERT, "stuck", "-n", namespace, "--wait=false")
    wait_for(lambda: _gone(cluster, namespace, CERT, "stuck"), timeout=40, what="deleted")
    assert time.monotonic() - started < 40
    events = cluster.get_json("events", "-n", namespace)["items"]
    abandoned = [e for e in events if e["reason"] == "RevocationAbandoned"]
    assert abandoned and abandoned[0]["type"] == "Warning"
    assert "stays valid at SCM" in abandoned[0]["message"]
    assert _gone(cluster, namespace, "secret", "stuck-tls")
    assert sandbox_scm.counters()["revocations"] == 0


def test_deleting_a_config_in_use_is_reported(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(cluster, namespace, certificate("user", commonName="user.example.com"))
    wait_condition(cluster, namespace, CERT, "user")
    cluster.kubectl("delete", "sectigoconfig", "scm", "-n", namespace)

    def reported() -> list[dict[str, Any]] | None:
        events = cluster.get_json("events", "-n", namespace)["items"]
        found = [e for e in events if e["reason"] in ("ConfigInUse", "ConfigDeleted")]
        return found if len(found) >= 2 else None

    events = wait_for(reported, timeout=20, what="ConfigInUse and ConfigDeleted Events")
    on_config = next(e for e in events if e["reason"] == "ConfigInUse")
    assert on_config["involvedObject"]["name"] == "scm" and "user" in on_config["message"]
    on_cert = next(e for e in events if e["reason"] == "ConfigDeleted")
    assert on_cert["involvedObject"]["name"] == "user" and on_cert["type"] == "Warning"
    assert secret_data(cluster, namespace, "user-tls")["tls.crt"]  # the Secret is kept
