"""Issuance acceptance (issue 6) end to end: control plane, sandbox SCM, the operator process.

Each test starts one operator for its own namespace and its own sandbox SCM, so the sandbox's
order list and counters belong to that test alone. Timings are shortened through the config
(``collect.loopPeriod`` 1 s) and the sandbox's runtime settings; every wait polls with a deadline.
The operator runs with ``--verbose`` (DEBUG logs, including httpx/httpcore); most tests end with
:func:`assert_secrets_absent`, which looks for the SCM passwords and every private-key line in the
operator log, in the statuses of our resources and in the namespace's Events.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    SSL_ENROLL,
    OperatorProcess,
    apply,
    certificate,
    cond,
    condition,
    credentials_secret,
    enroll_calls,
    get,
    history,
    issued_pair,
    key_secret,
    secret_data,
    secret_exists,
    wait_condition,
)

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster


# --------------------------------------------------------------------------------------------
# helpers


def public_der(key: pki.PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def events_for(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get_json(
        "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def key_fragments(key: pki.PrivateKey) -> set[str]:
    """Every 64-character base64 line of the key in each PEM encoding the operator might use."""
    fragments: set[str] = set()
    for encoding in ("PKCS1", "PKCS8"):
        pem = pki.private_key_to_pem(key, encoding).decode()
        fragments |= {line for line in pem.splitlines() if len(line) >= 32 and "-" not in line}
    return fragments


def assert_secrets_absent(
    cluster: Cluster,
    namespace: str,
    operator: OperatorProcess,
    *,
    passwords: tuple[str, ...] = (),
    keys: tuple[pki.PrivateKey, ...] = (),
) -> None:
    """No password and no private-key line in the operator log, in any status or in Events."""
    places = {
        "operator log": operator.logs(),
        "statuses": cluster.kubectl(
            "get",
            "sectigocertificates,sectigoconfigs,sectigoprofiles",
            "-n",
            namespace,
            "-o",
            "json",
        ).stdout,
        "events": cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout,
    }
    assert places["operator log"], "the operator log is empty: nothing was checked"
    fragments = {f for key in keys for f in key_fragments(key)}
    for where, text in places.items():
        assert "PRIVATE KEY" not in text, f"private key material in the {where}"
        for password in passwords:
            assert password not in text, f"a password in the {where}"
        leaked = [f for f in fragments if f in text]
        assert not leaked, f"private key lines in the {where}"


# --------------------------------------------------------------------------------------------
# tests


def test_order_pending_past_max_timeout_times_out_then_becomes_ready(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """maxTimeout 2 s, and the sandbox issues only at the 5th collect. Past maxTimeout the
    operator collects every max_poll_delay (here 2 s instead of 300 s)."""
    sandbox_scm.update_settings(issueAfterCollects=4)
    scm_setup(collect={"maxTimeout": 2, "loopPeriod": 1})
    operator = operator_factory(namespace, SECTIGO_OPERATOR_MAX_POLL_DELAY="2")
    apply(cluster, namespace, certificate("slow", commonName="slow.example.com"))

    waiting = wait_condition(
        cluster, namespace, CERT, "slow", "Issuing", "True", "TimedOutStateSaved", timeout=30
    )
    assert waiting["status"]["state"] == "TimedOutStateSaved"
    assert cond(waiting, "Ready")["status"] == "False"
    assert "maxTimeout (2s)" in cond(waiting, "Issuing")["message"]

    ready = wait_condition(cluster, namespace, CERT, "slow", timeout=60)
    states = history(ready)
    assert states[-3:] == ["Applied", "TimedOutStateSaved", "Issued"], states
    info, key = issued_pair(cluster, namespace, "slow-tls", sandbox_scm)
    assert info.common_name == "slow.example.com"
    orders = sandbox_scm.orders(common_name="slow.example.com")
    assert len(orders) == 1
    assert orders[0]["id"] == ready["status"]["sslId"]
    assert sandbox_scm.counters()["enrollsByCommonName"] == {"slow.example.com": 1}
    assert enroll_calls(sandbox_scm) == 1
    assert_secrets_absent(
        cluster, namespace, operator, passwords=(sandbox_scm.password,), keys=(key,)
    )


def test_approval_required_orders_wait_then_issue_or_stall_on_decline(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    apply(
        cluster,
        namespace,
        certificate("approved", commonName="approved.example.com", certType=52),
        certificate("declined", commonName="declined.example.com", certType=52),
        certificate(
            "carol",
            certificateType="client",
            certType=62,
            email="carol@example.com",
            firstName="Carol",
            lastName="Client",
        ),
    )
    waiting = {
        name: wait_condition(
            cluster, namespace, CERT, name, "Issuing", "True", "AwaitingApproval", timeout=30
        )
        for name in ("approved", "declined", "carol")
    }
    for name, obj in waiting.items():
        assert obj["status"]["scmStatus"].lower() == "requested", name
        assert obj["status"]["state"] == "Requested", name
        assert cond(obj, "Ready")["status"] == "False"
        assert "approval" in cond(obj, "Issuing")["message"]
    for name in ("approved-tls", "declined-tls", "carol-tls"):
        assert not secret_exists(cluster, namespace, name)

    sandbox_scm.approve(waiting["approved"]["status"]["sslId"])
    (carol_order,) = sandbox_scm.orders(email="carol@example.com")
    assert carol_order["orderNumber"] == waiting["carol"]["status"]["orderNumber"]
    sandbox_scm.approve(carol_order["id"])
    sandbox_scm.decline(waiting["declined"]["status"]["sslId"])

    approved = wait_condition(cluster, namespace, CERT, "approved", timeout=30)
    assert history(approved)[-3:] == ["Applied", "Requested", "Issued"]
    assert issued_pair(cluster, namespace, "approved-tls", sandbox_scm)[0].common_name == (
        "approved.example.com"
    )
    wait_condition(cluster, namespace, CERT, "carol", timeout=30)
    assert "carol@example.com" in (
        issued_pair(cluster, namespace, "carol-tls", sandbox_scm)[0].email_addresses
    )

    declined = wait_condition(cluster, namespace, CERT, "declined", "Stalled", timeout=30)
    stalled = cond(declined, "Stalled")
    assert stalled["reason"] in ("OrderFailed", "ScmOrderFailed")
    assert "Declined" in stalled["message"]
    assert cond(declined, "Ready")["status"] == "False"
    assert declined["status"]["state"] == "Failed"
    assert declined["status"]["scmStatus"] == "Declined"
    assert "Declined" in declined["status"]["lastError"]["description"]
    assert declined["status"]["lastError"]["code"] is not None
    assert not secret_exists(cluster, namespace, "declined-tls")
    warnings = wait_for(
        lambda: [
            e
            for e in events_for(cluster, namespace, "declined")
            if e["type"] == "Warning" and e["reason"] == stalled["reason"]
        ],
        timeout=15,
        what="a Warning Event about the declined order",
    )
    assert "Declined" in warnings[0]["message"]
    # exactly one order each, none re-ordered after the decline
    assert len(sandbox_scm.orders(common_name="declined.example.com")) == 1
    assert len(sandbox_scm.orders(common_name="approved.example.com")) == 1
    assert len(sandbox_scm.orders(email="carol@example.com")) == 1

    # a change of spec starts a new order (not the declined one again)
    declined_id = declined["status"]["sslId"]
    cluster.kubectl(
        "patch", CERT, "declined", "-n", namespace, "--type=merge", "-p", '{"spec":{"certType":51}}'
    )
    retried = wait_condition(cluster, namespace, CERT, "declined", timeout=30)
    assert retried["status"]["sslId"] != declined_id
    assert cond(retried, "Stalled")["status"] == "False"
    assert "lastError" not in retried["status"]
    orders = {o["id"]: o for o in sandbox_scm.orders(common_name="declined.example.com")}
    assert orders.keys() == {declined_id, retried["status"]["sslId"]}
    assert orders[declined_id]["status"] == "Declined"
    assert (
        retried["status"]["enrollment"]["marker"] in orders[retried["status"]["sslId"]]["comments"]
    )
    issued_pair(cluster, namespace, "declined-tls", sandbox_scm)


def test_an_order_pending_after_a_spec_change_is_collected_once_approved(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """A certificate already handled once by Kopf whose new order (after a spec change) waits
    for approval: the collect is retried until it is issued. Kopf would drop such a retry (the
    object looks handled to it once a step wrote status.observedGeneration); the operator's
    scheduler does not."""
    apply(cluster, namespace, certificate("moved", commonName="moved.example.com"))
    first = wait_condition(cluster, namespace, CERT, "moved", timeout=30)
    apply(cluster, namespace, certificate("moved", commonName="moved.example.com", certType=52))
    waiting = wait_condition(
        cluster, namespace, CERT, "moved", "Issuing", "True", "AwaitingApproval", timeout=30
    )
    assert waiting["status"]["sslId"] != first["status"]["sslId"]
    sandbox_scm.approve(waiting["status"]["sslId"])
    issued = wait_condition(cluster, namespace, CERT, "moved", "Issuing", "False", timeout=60)
    assert issued["status"]["state"] == "Issued"
    assert issued["status"]["sslId"] == waiting["status"]["sslId"]
    assert cond(issued, "Ready")["status"] == "True"
    assert issued["status"]["serialNumber"] != first["status"]["serialNumber"]
    leaf, _ = issued_pair(cluster, namespace, "moved-tls", sandbox_scm)
    assert leaf.common_name == "moved.example.com"
    assert enroll_calls(sandbox_scm) == 2


def test_existing_csr_and_key_are_honoured_and_a_mismatch_is_rejected(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    inline_key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    ref_key = pki.generate_private_key(pki.KeySpec("RSA", 2048))
    alone_key = pki.generate_private_key(pki.KeySpec("ECDSA", 384))
    other_key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    inline_csr = pki.build_csr(
        inline_key,
        pki.CsrRequest(common_name="inline.example.com", dns_names=("inline.example.com",)),
    )
    ref_csr = pki.build_csr(
        ref_key,
        pki.CsrRequest(
            common_name="ref.example.com", dns_names=("ref.example.com", "alt.example.com")
        ),
    )
    mismatch_csr = pki.build_csr(inline_key, pki.CsrRequest(common_name="mismatch.example.com"))

    apply(
        cluster,
        namespace,
        key_secret("inline-key", inline_key),
        key_secret("ref-key", ref_key),
        key_secret("alone-key", alone_key),
        key_secret("other-key", other_key),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "ref-csr"},
            "stringData": {"tls.csr": ref_csr},
        },
        certificate("inline", csr=inline_csr, privateKeySecretRef={"name": "inline-key"}),
        certificate(
            "ref", csrSecretRef={"name": "ref-csr"}, privateKeySecretRef={"name": "ref-key"}
        ),
        certificate(
            "alone", commonName="alone.example.com", privateKeySecretRef={"name": "alone-key"}
        ),
        certificate("mismatch", csr=mismatch_csr, privateKeySecretRef={"name": "other-key"}),
    )

    for name, key, cn in (
        ("inline", inline_key, "inline.example.com"),
        ("ref", ref_key, "ref.example.com"),
        ("alone", alone_key, "alone.example.com"),
    ):
        wait_condition(cluster, namespace, CERT, name, timeout=30)
        info, stored = issued_pair(cluster, namespace, f"{name}-tls", sandbox_scm)
        assert public_der(stored) == public_der(key), f"{name}: the Secret holds another key"
        assert info.common_name == cn
        assert len(sandbox_scm.orders(common_name=cn)) == 1
    ref_info = issued_pair(cluster, namespace, "ref-tls", sandbox_scm)[0]
    assert {"ref.example.com", "alt.example.com"} <= set(ref_info.dns_names)
    for name in ("inline", "ref", "alone"):  # no key was generated for them
        pending = f"{name}-sectigo-pending-key"
        assert not secret_exists(cluster, namespace, pending)

    mismatch = wait_condition(cluster, namespace, CERT, "mismatch", "Stalled", timeout=30)
    stalled = cond(mismatch, "Stalled")
    assert "spec.privateKeySecretRef" in stalled["message"]
    assert "does not match" in stalled["message"]
    assert cond(mismatch, "Ready")["status"] == "False"
    assert sandbox_scm.orders(common_name="mismatch.example.com") == []
    assert "mismatch.example.com" not in sandbox_scm.counters()["enrollsByCommonName"]
    assert enroll_calls(sandbox_scm) == 3
    assert_secrets_absent(
        cluster,
        namespace,
        scm_operator,
        passwords=(sandbox_scm.password,),
        keys=(inline_key, ref_key, alone_key, other_key),
    )


def test_a_key_secret_created_after_the_certificate_is_waited_for(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """GitOps tools apply in any order: a missing referenced Secret is a wait, not a stall."""
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    apply(
        cluster,
        namespace,
        certificate("later", commonName="later.example.com", privateKeySecretRef={"name": "k"}),
    )

    def waiting() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "later")
        ready = condition(obj, "Ready")
        return obj if ready and "'k' not found" in ready["message"] else None

    obj = wait_for(waiting, timeout=30, what="the certificate to say the Secret is missing")
    assert "spec.privateKeySecretRef" in cond(obj, "Ready")["message"]
    assert cond(obj, "Stalled")["status"] == "False"
    assert cond(obj, "Issuing")["status"] == "True"
    assert enroll_calls(sandbox_scm) == 0

    apply(cluster, namespace, key_secret("k", key))
    wait_condition(cluster, namespace, CERT, "later", timeout=30)
    _, stored = issued_pair(cluster, namespace, "later-tls", sandbox_scm)
    assert public_der(stored) == public_der(key)
    assert enroll_calls(sandbox_scm) == 1


def test_lost_enroll_response_adopts_the_order(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """The sandbox commits the order and drops the connection without an answer."""
    sandbox_scm.inject_fault("response_lost", "/api/ssl/v1/enroll", method="POST")
    sandbox_scm.inject_fault("response_lost", "/api/smime/*/enroll", method="POST")
    scm_setup()
    operator = operator_factory(namespace)
    apply(
        cluster,
        namespace,
        certificate("lost", commonName="lost.example.com"),
        certificate(
            "dave",
            certificateType="client",
            email="dave@example.com",
            firstName="Dave",
            lastName="Lost",
        ),
    )
    lost = wait_condition(cluster, namespace, CERT, "lost", timeout=30)
    dave = wait_condition(cluster, namespace, CERT, "dave", timeout=30)
    assert sandbox_scm.faults() == [], "the faults were not hit"

    orders = sandbox_scm.orders(common_name="lost.example.com")
    assert [o["id"] for o in orders] == [lost["status"]["sslId"]]
    assert enroll_calls(sandbox_scm, SSL_ENROLL) == 1
    client_orders = sandbox_scm.orders(email="dave@example.com")
    assert len(client_orders) == 1
    assert sandbox_scm.counters()["enrollsByEmail"] == {"dave@example.com": 1}
    assert lost["status"]["enrollment"]["marker"] in orders[0]["comments"]
    assert "adopted" in lost["status"]["history"][-2]["message"]
    assert "adopted" in dave["status"]["history"][-2]["message"]
    info, key = issued_pair(cluster, namespace, "lost-tls", sandbox_scm)
    assert info.common_name == "lost.example.com"
    client_info, client_key = issued_pair(cluster, namespace, "dave-tls", sandbox_scm)
    assert "dave@example.com" in client_info.email_addresses
    assert "lastError" not in lost["status"]
    assert_secrets_absent(
        cluster, namespace, operator, passwords=(sandbox_scm.password,), keys=(key, client_key)
    )


def test_sigkill_between_enroll_and_status_write_adopts_the_order(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    """The operator dies after SCM committed its order and before it wrote anything to status.

    Deterministic: the sandbox holds the enroll request for 3 s before handling it (a
    ``latency`` fault). Once the request has reached the sandbox, the test freezes the operator
    (SIGSTOP; its connection stays open), waits until the sandbox has committed the order and sent
    the answer into the frozen process's socket, checks that the certificate's Secret holds the
    key and the marker (a first order persists both in that Secret's create) and status nothing,
    and then SIGKILLs it: the answer is never read. (Killing while the request is held would
    not do: the sandbox drops a request whose client went away before it commits anything.) A new
    operator finds the marker on the Secret, finds the order at SCM by it, adopts it and
    collects it with the key it persisted before enrolling.
    """
    sandbox_scm.inject_fault("latency", "/api/ssl/v1/enroll", method="POST", latency_seconds=3.0)
    scm_setup()
    operator = operator_factory(namespace)
    apply(cluster, namespace, certificate("killed", commonName="killed.example.com"))

    wait_for(lambda: enroll_calls(sandbox_scm) == 1, timeout=30, what="the enroll request")
    assert operator.proc is not None
    operator.proc.send_signal(signal.SIGSTOP)
    try:
        assert sandbox_scm.orders(common_name="killed.example.com") == [], "answered too early"
        orders = wait_for(
            lambda: sandbox_scm.orders(common_name="killed.example.com"),
            timeout=30,
            what="the sandbox to commit the order",
        )
        before = get(cluster, namespace, CERT, "killed").get("status") or {}
        annotations = get(cluster, namespace, "secret", "killed-tls")["metadata"]["annotations"]
    finally:
        operator.kill()
    assert "enrollment" not in before and "sslId" not in before
    assert annotations["sectigo-operator.io/enrollment-marker"] in orders[0]["comments"]
    assert annotations["sectigo-operator.io/enrollment-identity"] == "killed.example.com"
    # a first order's key waits in the certificate's own Secret, with no certificate yet
    waiting = secret_data(cluster, namespace, "killed-tls")
    assert waiting["tls.crt"] == b""
    pending = waiting["tls.key"]
    assert not secret_exists(cluster, namespace, "killed-sectigo-pending-key")

    operator.start()
    ready = wait_condition(cluster, namespace, CERT, "killed", timeout=60)
    assert ready["status"]["sslId"] == orders[0]["id"]
    assert len(sandbox_scm.orders(common_name="killed.example.com")) == 1
    assert enroll_calls(sandbox_scm) == 1
    assert "adopted" in ready["status"]["history"][-2]["message"]
    _, key = issued_pair(cluster, namespace, "killed-tls", sandbox_scm)
    assert public_der(key) == public_der(pki.load_private_key(pending))
    assert_secrets_absent(
        cluster, namespace, operator, passwords=(sandbox_scm.password,), keys=(key,)
    )


def test_bad_credentials_stall_the_config_and_a_fixed_secret_recovers(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Any,
    operator_factory: Any,
) -> None:
    wrong = "wrong-password-3c1f9a77"
    scm_setup(password=wrong)
    operator = operator_factory(namespace)
    apply(cluster, namespace, certificate("waits", commonName="waits.example.com"))

    config = wait_condition(
        cluster, namespace, "sectigoconfig", "scm", "Stalled", "True", "AuthenticationFailed"
    )
    assert cond(config, "Ready")["status"] == "False"

    def cert_says_why() -> dict[str, Any] | None:
        obj = get(cluster, namespace, CERT, "waits")
        ready = condition(obj, "Ready")
        if (
            ready
            and ready["reason"] == "ConfigNotReady"
            and "AuthenticationFailed" in str(ready.get("message"))
        ):
            return obj
        return None

    waiting = wait_for(cert_says_why, timeout=30, what="the certificate to name its config")
    ready = cond(waiting, "Ready")
    assert ready["status"] == "False"
    assert "AuthenticationFailed" in ready["message"]
    assert "'scm'" in ready["message"]
    assert enroll_calls(sandbox_scm) == 0

    apply(cluster, namespace, credentials_secret("scm-credentials", "admin", sandbox_scm.password))
    wait_condition(cluster, namespace, "sectigoconfig", "scm", timeout=30)
    wait_condition(cluster, namespace, CERT, "waits", timeout=30)
    info, key = issued_pair(cluster, namespace, "waits-tls", sandbox_scm)
    assert info.common_name == "waits.example.com"
    assert len(sandbox_scm.orders(common_name="waits.example.com")) == 1
    assert_secrets_absent(
        cluster, namespace, operator, passwords=(sandbox_scm.password, wrong), keys=(key,)
    )


def test_requests_that_cannot_be_ordered_stall_before_any_order(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    """An unmanaged target Secret, a term or a key type the profile refuses: no order at all."""
    foreign = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "foreign-tls", "labels": {"owner": "someone-else"}},
        "type": "Opaque",
        "stringData": {"note": "not yours"},
    }
    apply(cluster, namespace, foreign)
    original = get(cluster, namespace, "secret", "foreign-tls")
    apply(
        cluster,
        namespace,
        certificate("taken", commonName="taken.example.com", secretName="foreign-tls"),
        certificate("term", commonName="term.example.com", certType=51, term=999),
        certificate(
            "keytype",
            commonName="keytype.example.com",
            certType=54,
            privateKey={"algorithm": "ECDSA", "size": 256},
        ),
    )
    taken = wait_condition(
        cluster, namespace, CERT, "taken", "Ready", "False", reason="SecretNotManaged", timeout=30
    )
    assert "foreign-tls" in cond(taken, "Ready")["message"]
    # Not Stalled: it recovers by itself once the other Secret is gone (a wait, not a dead end).
    assert cond(taken, "Stalled")["status"] == "False"

    term = wait_condition(
        cluster, namespace, CERT, "term", "Stalled", reason="ProfileMismatch", timeout=30
    )
    message = cond(term, "Stalled")["message"]
    assert "spec.term" in message and "999" in message and "365" in message
    keytype = wait_condition(
        cluster, namespace, CERT, "keytype", "Stalled", reason="ProfileMismatch", timeout=30
    )
    message = cond(keytype, "Stalled")["message"]
    assert "spec.privateKey" in message and "ECDSA 256" in message
    for obj in (term, keytype):
        assert cond(obj, "Ready")["status"] == "False"

    after = get(cluster, namespace, "secret", "foreign-tls")
    assert after["metadata"]["resourceVersion"] == original["metadata"]["resourceVersion"]
    assert after["data"] == original["data"]
    assert after["metadata"].get("labels") == {"owner": "someone-else"}
    assert enroll_calls(sandbox_scm) == 0
    assert sandbox_scm.orders() == []
    reasons = {
        (e["involvedObject"]["name"], e["reason"])
        for e in json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
        if e["type"] == "Warning"
    }
    assert ("term", "ProfileMismatch") in reasons
    assert ("taken", "SecretNotManaged") in reasons

    # a change of spec is what helps: the fixed certificate is ordered once and becomes Ready
    cluster.kubectl(
        "patch", CERT, "term", "-n", namespace, "--type=merge", "-p", '{"spec":{"term":365}}'
    )
    fixed = wait_condition(cluster, namespace, CERT, "term", timeout=30)
    assert cond(fixed, "Stalled")["status"] == "False"
    assert fixed["status"]["observedGeneration"] == fixed["metadata"]["generation"] == 2
    assert len(sandbox_scm.orders(common_name="term.example.com")) == 1
    assert enroll_calls(sandbox_scm) == 1
