"""The CRDs on a real API server: samples apply, bad input is rejected naming the field, and
kubectl shows useful tables and explanations (issue 5 acceptance).

Needs the local control plane (``cluster`` fixture); no operator runs, so nothing is ordered.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster

pytestmark = pytest.mark.cluster

SAMPLES = Path(__file__).resolve().parents[2] / "sample_manifests"
API = "sectigo-operator.io/v1alpha1"

CONFIG: dict[str, Any] = {
    "apiVersion": API,
    "kind": "SectigoConfig",
    "metadata": {"name": "cfg"},
    "spec": {
        "url": "https://cert-manager.com/",
        "customerUri": "example",
        "orgId": 1234,
        "credentialsSecretRef": {"name": "creds"},
    },
}
PROFILE: dict[str, Any] = {
    "apiVersion": API,
    "kind": "SectigoProfile",
    "metadata": {"name": "prof"},
    "spec": {"configRef": {"name": "cfg"}, "certificateType": "ssl", "profileId": 51},
}
SSL: dict[str, Any] = {
    "apiVersion": API,
    "kind": "SectigoCertificate",
    "metadata": {"name": "www"},
    "spec": {
        "configRef": {"name": "cfg"},
        "certificateType": "ssl",
        "secretName": "www-tls",
        "commonName": "www.example.com",
    },
}
CLIENT: dict[str, Any] = {
    "apiVersion": API,
    "kind": "SectigoCertificate",
    "metadata": {"name": "jane"},
    "spec": {
        "configRef": {"name": "cfg"},
        "certificateType": "client",
        "secretName": "jane-smime",
        "email": "jane@example.com",
        "firstName": "Jane",
        "lastName": "Doe",
    },
}
CSR = (SAMPLES / "demo" / "14-ssl-existing-csr.yaml").read_text()
CSR = CSR[CSR.index("-----BEGIN") : CSR.index("REQUEST-----", CSR.index("-----END")) + 12]
CSR = "\n".join(line.strip() for line in CSR.splitlines()) + "\n"


def with_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with spec fields set (a value of None deletes the field)."""
    doc = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            doc["spec"].pop(key, None)
        else:
            doc["spec"][key] = value
    return doc


def apply(cluster: Cluster, namespace: str, doc: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl(
        "apply",
        "--server-side",
        "--validate=strict",
        "-n",
        namespace,
        "-f",
        "-",
        *extra,
        input=json.dumps(doc),
        check=False,
    )


# --------------------------------------------------------------------------- samples
@pytest.mark.parametrize("directory", ["ssl", "client", "demo"])
def test_every_sample_applies(cluster: Cluster, namespace: str, directory: str) -> None:
    files = sorted((SAMPLES / directory).glob("*.yaml"))
    assert files
    for path in files:
        proc = cluster.kubectl(
            "apply",
            "--server-side",
            "--validate=strict",
            "-n",
            namespace,
            "-f",
            str(path),
            check=False,
        )
        assert proc.returncode == 0, f"{path.name}: {proc.stderr}"
        assert "Warning" not in proc.stderr, f"{path.name}: {proc.stderr}"


def test_samples_get_their_defaults(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(SAMPLES / "demo"))
    spec = cluster.get_json("sectigoconfig", "sandbox", "-n", namespace)["spec"]
    assert spec["credentialsSecretRef"]["passwordKey"] == "password"
    assert spec["renewal"] == {"autoRenew": True, "expiryWindowDays": 30}
    assert spec["ssl"]["serverType"] == -1
    cert = cluster.get_json("sectigocertificate", "demo-existing-csr", "-n", namespace)["spec"]
    assert cert["privateKeySecretRef"] == {"name": "demo-csr-key", "key": "tls.key"}
    assert cert["deletionPolicy"] == "Retain"


# --------------------------------------------------------------------------- rejected input
# (id, manifest, substrings the API server's answer must contain)
def named(base: dict[str, Any], name: str) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    doc["metadata"]["name"] = name
    return doc


INVALID: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "ssl: a name longer than a label value",
        named(SSL, "w" * 64),
        ("metadata.name: at most 63 characters",),
    ),
    (
        "ssl: secretTemplate sets the operator's own label",
        with_spec(SSL, secretTemplate={"labels": {"app.kubernetes.io/managed-by": "someone-else"}}),
        ("spec.secretTemplate.labels", "cannot be set by secretTemplate"),
    ),
    (
        "ssl: secretTemplate sets the operator's annotation",
        with_spec(
            SSL,
            secretTemplate={"annotations": {"sectigo-operator.io/enrollment-marker": "x"}},
        ),
        ("spec.secretTemplate.annotations", "cannot be set by secretTemplate"),
    ),
    (
        "ssl: a URI SAN that is not ASCII",
        with_spec(SSL, uris=["https://example.com/\u00fc"]),
        ("spec.uris[0]",),
    ),
    (
        "ssl: an e-mail SAN that is not ASCII",
        with_spec(SSL, emailAddresses=["j\u00f6rg@example.com"]),
        ("spec.emailAddresses[0]",),
    ),
    # SectigoConfig
    (
        "config: no auth method",
        with_spec(CONFIG, credentialsSecretRef=None),
        ("spec.credentialsSecretRef", "clientCertificateSecretRef", "exactly one"),
    ),
    (
        "config: both auth methods",
        with_spec(CONFIG, clientCertificateSecretRef={"name": "mtls"}),
        ("exactly one of spec.credentialsSecretRef",),
    ),
    (
        "config: http to a remote host",
        with_spec(CONFIG, url="http://cert-manager.com/"),
        ("spec.url", "https://"),
    ),
    ("config: not a URL", with_spec(CONFIG, url="cert-manager.com/api"), ("spec.url",)),
    (
        "config: user info in the URL",
        with_spec(CONFIG, url="https://admin:pw@cert-manager.com/"),
        ("spec.url must not hold user info",),
    ),
    (
        "config: a query in the URL",
        with_spec(CONFIG, url="https://cert-manager.com/?customer=x"),
        ("spec.url must not hold user info", "a query"),
    ),
    (
        "config: missing customerUri",
        with_spec(CONFIG, customerUri=None),
        ("spec.customerUri", "Required"),
    ),
    ("config: orgId 0", with_spec(CONFIG, orgId=0), ("spec.orgId",)),
    (
        "config: loopPeriod 0",
        with_spec(CONFIG, collect={"loopPeriod": 0}),
        ("spec.collect.loopPeriod",),
    ),
    (
        "config: window 0",
        with_spec(CONFIG, renewal={"expiryWindowDays": 0}),
        ("spec.renewal.expiryWindowDays",),
    ),
    (
        "config: window 3651",
        with_spec(CONFIG, renewal={"expiryWindowDays": 3651}),
        ("spec.renewal.expiryWindowDays",),
    ),
    ("config: term 0", with_spec(CONFIG, ssl={"term": 0}), ("spec.ssl.term",)),
    (
        "config: ECDSA 2048",
        with_spec(CONFIG, privateKey={"algorithm": "ECDSA", "size": 2048}),
        ("spec.privateKey.size", "ECDSA"),
    ),
    (
        "config: password inline",
        with_spec(CONFIG, credentialsSecretRef={"name": "creds", "password": "hunter2"}),
        (".spec.credentialsSecretRef.password: field not declared in schema",),
    ),
    # SectigoProfile
    (
        "profile: id and name",
        with_spec(PROFILE, profileName="OV SSL"),
        ("spec.profileId", "spec.profileName"),
    ),
    (
        "profile: neither id nor name",
        with_spec(PROFILE, profileId=None),
        ("exactly one of spec.profileId and spec.profileName",),
    ),
    ("profile: no configRef", with_spec(PROFILE, configRef=None), ("spec.configRef", "Required")),
    (
        "profile: unknown type",
        with_spec(PROFILE, certificateType="code"),
        ("spec.certificateType", "Unsupported value"),
    ),
    # SectigoCertificate: references and required fields
    ("cert: no configRef", with_spec(SSL, configRef=None), ("spec.configRef", "Required")),
    ("cert: no secretName", with_spec(SSL, secretName=None), ("spec.secretName", "Required")),
    ("cert: secretName not a name", with_spec(SSL, secretName="WWW_TLS"), ("spec.secretName",)),
    (
        "cert: secretName with an empty label",
        with_spec(SSL, secretName="0..0"),
        ("spec.secretName",),
    ),
    (
        "cert: secretName label ends in -",
        with_spec(SSL, secretName="www-.tls"),
        ("spec.secretName",),
    ),
    (
        "cert: ssl without CN or dnsNames",
        with_spec(SSL, commonName=None),
        ("spec.commonName", "spec.dnsNames"),
    ),
    ("cert: client without email", with_spec(CLIENT, email=None), ("spec.email", "Required")),
    ("cert: client without first name", with_spec(CLIENT, firstName=None), ("spec.firstName",)),
    ("cert: malformed email", with_spec(CLIENT, email="jane.example.com"), ("spec.email", "email")),
    (
        "cert: malformed secondary email",
        with_spec(CLIENT, secondaryEmails=["a@b.c", "nope"]),
        ("spec.secondaryEmails[1]",),
    ),
    (
        "cert: client fields on ssl",
        with_spec(SSL, firstName="Jane"),
        ("spec.firstName", "client certificates only"),
    ),
    (
        "cert: dnsNames on client",
        with_spec(CLIENT, dnsNames=["a.example.com"]),
        ("spec.dnsNames", "ssl certificates only"),
    ),
    ("cert: bad DNS name", with_spec(SSL, dnsNames=["exa mple.com"]), ("spec.dnsNames[0]",)),
    (
        "cert: bad IP address",
        with_spec(SSL, ipAddresses=["127.0.0.300"]),
        ("spec.ipAddresses[0]", "IPv4 or IPv6"),
    ),
    # ranges
    ("cert: term 0", with_spec(SSL, term=0), ("spec.term",)),
    ("cert: term 3651", with_spec(SSL, term=3651), ("spec.term",)),
    (
        "cert: window 0",
        with_spec(SSL, renewal={"expiryWindowDays": 0}),
        ("spec.renewal.expiryWindowDays",),
    ),
    (
        "cert: RSA 1024",
        with_spec(SSL, privateKey={"algorithm": "RSA", "size": 1024}),
        ("spec.privateKey.size", "RSA"),
    ),
    (
        "cert: DNS name with an empty label",
        with_spec(SSL, dnsNames=["a..example.com"]),
        ("spec.dnsNames[0]", "should match"),
    ),
    (
        "cert: DNS label over 63 characters",
        with_spec(SSL, dnsNames=["x" * 64 + ".example.com"]),
        ("spec.dnsNames[0]", "should match"),
    ),
    (
        "cert: commonName with a bidi override",
        with_spec(SSL, commonName="evil\u202egpj.example.com"),
        ("spec.commonName", "should match"),
    ),
    (
        "cert: commonName with a control character",
        with_spec(SSL, commonName="bell\u0007.example.com"),
        ("spec.commonName", "should match"),
    ),
    (
        "cert: commonName of 20 emoji (80 bytes)",
        with_spec(SSL, commonName="\U0001f600" * 20),
        ("spec.commonName", "64 bytes"),
    ),
    (
        "client: firstName of 64 emoji",
        with_spec(CLIENT, firstName="\U0001f600" * 64),
        ("spec.firstName", "64 bytes"),
    ),
    (
        "cert: Ed25519",
        with_spec(SSL, privateKey={"algorithm": "Ed25519"}),
        ("spec.privateKey.algorithm", "Unsupported value"),
    ),
    (
        "cert: revoke reasonCode 2",
        with_spec(SSL, revokeRequest={"id": "r1", "reasonCode": 2, "reason": "x"}),
        ("spec.revokeRequest.reasonCode", "Unsupported value"),
    ),
    (
        "cert: revoke without reason",
        with_spec(SSL, revokeRequest={"id": "r1"}),
        ("spec.revokeRequest.reason", "Required"),
    ),
    (
        "cert: replace without id",
        with_spec(SSL, replaceRequest={"reason": "x"}),
        ("spec.replaceRequest.id", "Required"),
    ),
    # conflicting options
    (
        "cert: profileRef and certType",
        with_spec(SSL, profileRef={"name": "prof"}, certType=51),
        ("spec.certType", "spec.profileRef"),
    ),
    (
        "cert: csr and csrSecretRef",
        with_spec(SSL, csr=CSR, csrSecretRef={"name": "c"}, privateKeySecretRef={"name": "k"}),
        ("spec.csrSecretRef", "at most one"),
    ),
    (
        "cert: csr without its key",
        with_spec(SSL, csr=CSR),
        ("spec.privateKeySecretRef", "Required"),
    ),
    (
        "cert: import both ids",
        with_spec(
            SSL, privateKeySecretRef={"name": "k"}, **{"import": {"sslId": 1, "orderNumber": 2}}
        ),
        ("spec.import", "exactly one"),
    ),
    (
        "cert: import orderNumber for ssl",
        with_spec(SSL, privateKeySecretRef={"name": "k"}, **{"import": {"orderNumber": 2}}),
        ("spec.import", "sslId"),
    ),
    (
        "cert: rotate a supplied key",
        with_spec(SSL, privateKeySecretRef={"name": "k"}, privateKey={"rotationPolicy": "Always"}),
        ("spec.privateKey.rotationPolicy", "Never"),
    ),
    (
        "cert: PKCS12 without password",
        with_spec(SSL, additionalOutputFormats=[{"type": "PKCS12"}]),
        ("spec.additionalOutputFormats[0].passwordSecretRef",),
    ),
    (
        "cert: duplicate output format",
        with_spec(SSL, additionalOutputFormats=[{"type": "DER"}, {"type": "DER"}]),
        ('.spec.additionalOutputFormats: duplicate entries for key [type="DER"]',),
    ),
    # private keys
    (
        "cert: private key pasted as csr",
        with_spec(
            SSL,
            csr="-----BEGIN PRIVATE KEY-----\n" + "A" * 64 + "\n-----END PRIVATE KEY-----",
            privateKeySecretRef={"name": "k"},
        ),
        ("spec.csr", "must not contain a private key"),
    ),
    (
        "cert: inline private key field",
        with_spec(SSL, privateKey={"algorithm": "RSA", "pem": "-----BEGIN PRIVATE KEY-----"}),
        (".spec.privateKey.pem: field not declared in schema",),
    ),
    (
        "cert: inline key next to the key ref",
        with_spec(
            SSL, privateKeySecretRef={"name": "k", "data": "-----BEGIN RSA PRIVATE KEY-----"}
        ),
        (".spec.privateKeySecretRef.data: field not declared in schema",),
    ),
]


@pytest.mark.parametrize(("doc", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected_naming_the_field(
    cluster: Cluster, namespace: str, doc: dict[str, Any], expected: tuple[str, ...]
) -> None:
    proc = apply(cluster, namespace, doc, "--dry-run=server")
    assert proc.returncode != 0, f"accepted: {json.dumps(doc['spec'])}"
    for text in expected:
        assert text in proc.stderr, proc.stderr


def test_the_valid_baselines_are_accepted(cluster: Cluster, namespace: str) -> None:
    """The table above fails for the reason it names, not because its base is broken."""
    for doc in (CONFIG, PROFILE, SSL, CLIENT, with_spec(CONFIG, url="http://127.0.0.1:8843")):
        proc = apply(cluster, namespace, doc, "--dry-run=server")
        assert proc.returncode == 0, proc.stderr


def test_client_side_strict_apply_names_the_unknown_field(cluster: Cluster, namespace: str) -> None:
    doc = with_spec(SSL, privateKey={"algorithm": "RSA", "pem": "-----BEGIN PRIVATE KEY-----"})
    proc = cluster.kubectl(
        "apply",
        "--validate=strict",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(doc),
        check=False,
    )
    assert proc.returncode != 0
    assert 'unknown field "spec.privateKey.pem"' in proc.stderr, proc.stderr


def test_inline_key_is_pruned_without_strict_validation(cluster: Cluster, namespace: str) -> None:
    """Without strict validation the API server drops the unknown field and warns about it."""
    doc = with_spec(SSL, privateKey={"algorithm": "RSA", "pem": "-----BEGIN PRIVATE KEY-----"})
    proc = cluster.kubectl(
        "apply", "--validate=warn", "-n", namespace, "-f", "-", input=json.dumps(doc)
    )
    assert 'unknown field "spec.privateKey.pem"' in proc.stderr
    stored = cluster.get_json("sectigocertificate", "www", "-n", namespace)
    assert stored["spec"]["privateKey"] == {"algorithm": "RSA", "encoding": "PKCS1"}


def test_status_cannot_carry_a_key(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, SSL)
    patch = {"status": {"sslId": 7, "privateKey": "-----BEGIN PRIVATE KEY-----"}}
    cluster.kubectl(
        "patch",
        "sectigocertificate",
        "www",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    assert cluster.get_json("sectigocertificate", "www", "-n", namespace)["status"] == {"sslId": 7}


# --------------------------------------------------------------------------- immutability
IMMUTABLE: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], None], str]] = [
    (
        "certificateType",
        CLIENT,
        lambda s: s.update(certificateType="ssl"),
        "spec.certificateType is immutable",
    ),
    ("secretName", SSL, lambda s: s.update(secretName="other-tls"), "spec.secretName is immutable"),
    (
        "configRef",
        SSL,
        lambda s: s.update(configRef={"name": "other"}),
        "spec.configRef is immutable",
    ),
    (
        "import",
        with_spec(SSL, privateKeySecretRef={"name": "k"}, **{"import": {"sslId": 1}}),
        lambda s: s.update({"import": {"sslId": 2}}),
        "spec.import is immutable",
    ),
    (
        "profile certificateType",
        PROFILE,
        lambda s: s.update(certificateType="client"),
        "spec.certificateType is immutable",
    ),
]


@pytest.mark.parametrize(
    ("base", "change", "message"), [c[1:] for c in IMMUTABLE], ids=[c[0] for c in IMMUTABLE]
)
def test_immutable_field_cannot_change(
    cluster: Cluster,
    namespace: str,
    base: dict[str, Any],
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    created = apply(cluster, namespace, base)
    assert created.returncode == 0, created.stderr
    updated = copy.deepcopy(base)
    change(updated["spec"])
    proc = apply(cluster, namespace, updated)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_mutable_fields_can_change(cluster: Cluster, namespace: str) -> None:
    assert apply(cluster, namespace, SSL).returncode == 0
    changed = with_spec(SSL, dnsNames=["www.example.com"], term=730, renewRequest={"id": "r2"})
    proc = apply(cluster, namespace, changed)
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- kubectl UX
@pytest.fixture
def demo(cluster: Cluster, namespace: str) -> str:
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(SAMPLES / "demo"))
    status = {
        "status": {
            "sslId": 4242,
            "scmStatus": "Issued",
            "state": "Issued",
            "notAfter": "2027-11-27T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "reason": "Issued"}],
        }
    }
    cluster.kubectl(
        "patch",
        "sectigocertificate",
        "demo-rsa",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    return namespace


def table(text: str) -> tuple[list[str], dict[str, str]]:
    lines = text.strip().splitlines()
    return lines[0].split(), {line.split()[0]: line for line in lines[1:]}


def test_get_shows_the_columns(cluster: Cluster, demo: str) -> None:
    out = cluster.kubectl("get", "sectigocertificates", "-n", demo).stdout
    header, rows = table(out)
    assert header == ["NAME", "READY", "TYPE", "CN/E-MAIL", "SCM", "STATUS", "EXPIRES", "AGE"]
    assert rows["demo-rsa"].split()[1:6] == [
        "True",
        "ssl",
        "rsa.demo.example.com",
        "Issued",
        "2027-11-27T10:00:00Z",
    ]
    assert rows["demo-client"].split()[1:3] == ["client", "alice@example.com"]


def test_get_wide_adds_scm_id_secret_and_config(cluster: Cluster, demo: str) -> None:
    out = cluster.kubectl("get", "scert", "-n", demo, "-o", "wide").stdout
    header, rows = table(out)
    assert {"ID", "SECRET", "CONFIG", "STATE"} <= set(header)
    assert {"4242", "demo-rsa-tls", "sandbox"} <= set(rows["demo-rsa"].split())


def test_category_lists_all_three_kinds(cluster: Cluster, demo: str) -> None:
    out = cluster.kubectl("get", "sectigo", "-n", demo, "-o", "name").stdout.split()
    assert "sectigoconfig.sectigo-operator.io/sandbox" in out
    assert "sectigoprofile.sectigo-operator.io/sandbox-ssl" in out
    assert "sectigocertificate.sectigo-operator.io/demo-client" in out


def test_short_names_and_field_selectors(cluster: Cluster, demo: str) -> None:
    assert "sandbox" in cluster.kubectl("get", "scfg", "-n", demo, "-o", "name").stdout
    assert "sandbox-ssl" in cluster.kubectl("get", "sprof", "-n", demo, "-o", "name").stdout
    out = cluster.kubectl(
        "get",
        "scert",
        "-n",
        demo,
        "-o",
        "name",
        "--field-selector",
        "spec.certificateType=client,spec.configRef.name=sandbox",
    ).stdout.split()
    assert out == ["sectigocertificate.sectigo-operator.io/demo-client"]


def test_explain_describes_the_spec(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "sectigocertificate.spec").stdout
    assert "The certificate wanted" in out
    for field in ("secretName", "certificateType", "privateKeySecretRef", "revokeRequest"):
        assert field in out
    assert "enum: ssl, client" in out
    deep = cluster.kubectl("explain", "sectigocertificate.spec.revokeRequest.reasonCode").stdout
    assert "keyCompromise" in deep
