"""``kubectl sectigo`` against the control plane: every command, through kubectl's plugin
discovery (``kubectl-sectigo`` is installed with the package), including the error paths."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx
import pytest
import yaml
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    enroll_calls,
    get,
    key_secret,
    wait_condition,
)

from sectigo_operator import pki
from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

COMMANDS = ["status", "inspect", "renew", "replace", "revoke", "import", "check-config"]


def sectigo(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("sectigo", *args, check=False)


def ok(cluster: Cluster, *args: str) -> str:
    result = sectigo(cluster, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert len(lines) == 1 or code == 2, result.stderr  # usage errors add click's usage line
    return lines[-1]


def test_every_command_against_the_control_plane(
    cluster: Cluster, namespace: str, sandbox_scm: SandboxHandle, scm_operator: OperatorProcess
) -> None:
    assert all(c in ok(cluster, "--help") for c in COMMANDS)
    for command in COMMANDS:
        assert "Usage:" in ok(cluster, command, "--help")

    apply(cluster, namespace, certificate("web", commonName="web.example.com"))
    wait_condition(cluster, namespace, CERT, "web")
    n = ("-n", namespace)

    table = ok(cluster, *n, "status", "web")
    assert "Issued" in table and "Conditions:" in table and "History:" in table
    status = json.loads(ok(cluster, *n, "status", "web", "-o", "json"))
    assert {c["type"] for c in status["conditions"]} == {"Ready", "Issuing", "Stalled"}
    assert "web" in ok(cluster, *n, "status")
    assert namespace in ok(cluster, "-A", "status")

    report = yaml.safe_load(ok(cluster, *n, "inspect", "web", "-o", "yaml"))
    assert report["commonName"] == "web.example.com" and report["keyMatches"] is True
    assert report["serialNumber"] == status["serialNumber"]
    assert "keyMatches:" in ok(cluster, *n, "inspect", "web")

    config = json.loads(ok(cluster, *n, "check-config", "scm", "-o", "json"))
    assert config["ready"] == "True" and config["certificates"] == ["web"]

    renew_id = ok(cluster, *n, "renew", "web").split()[-1]
    wait_for(
        lambda: (
            get(cluster, namespace, CERT, "web")["status"].get("lastRenewRequestId") == renew_id
        ),
        timeout=30,
        what="renew request handled",
    )
    replace_id = ok(cluster, *n, "replace", "web", "--reason", "rotating").split()[-1]
    wait_for(
        lambda: (
            get(cluster, namespace, CERT, "web")["status"].get("lastReplaceRequestId") == replace_id
        ),
        timeout=30,
        what="replace request handled",
    )
    assert sandbox_scm.counters()["renewals"] == 1
    assert sandbox_scm.counters()["replacements"] == 1

    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    csr = pki.build_csr(key, pki.CsrRequest(common_name="old.example.com"))
    answer = httpx.post(
        sandbox_scm.base_url + "/api/ssl/v1/enroll",
        json={"orgId": sandbox_scm.org_id, "certType": 51, "term": 365, "csr": csr},
        headers=sandbox_scm.auth_headers(),
    )
    ssl_id = answer.json()["sslId"]
    apply(cluster, namespace, key_secret("old-key", key))
    enrolls = enroll_calls(sandbox_scm)
    printed = ok(
        cluster,
        *n,
        "import",
        "old",
        "--config",
        "scm",
        "--ssl-id",
        str(ssl_id),
        "--key-secret",
        "old-key",
        "--common-name",
        "old.example.com",
        "--dry-run",
    )
    assert yaml.safe_load(printed)["spec"]["import"] == {"sslId": ssl_id}
    ok(
        cluster,
        *n,
        "import",
        "old",
        "--config",
        "scm",
        "--ssl-id",
        str(ssl_id),
        "--key-secret",
        "old-key",
        "--common-name",
        "old.example.com",
    )
    imported = wait_condition(cluster, namespace, CERT, "old")
    assert imported["status"]["sslId"] == ssl_id
    assert enroll_calls(sandbox_scm) == enrolls  # nothing ordered

    ok(cluster, *n, "revoke", "web", "--reason", "decommissioned", "--reason-code", "5")
    wait_condition(cluster, namespace, CERT, "web", "Ready", "False", "Revoked", 30)
    assert sandbox_scm.counters()["revocations"] == 1


def test_errors_are_one_clear_line(cluster: Cluster, namespace: str) -> None:
    n = ("-n", namespace)
    for args in (
        ("status", "missing"),
        ("inspect", "missing"),
        ("renew", "missing"),
        ("replace", "missing", "--reason", "x"),
        ("revoke", "missing", "--reason", "x"),
        ("check-config", "missing"),
    ):
        line = one_line_error(sectigo(cluster, *n, *args))
        assert "not found" in line and "missing" in line and namespace in line
    assert "--reason" in one_line_error(sectigo(cluster, *n, "replace", "x"), code=2)
    both = sectigo(
        cluster,
        *n,
        "import",
        "x",
        "--config",
        "c",
        "--key-secret",
        "k",
        "--ssl-id",
        "1",
        "--order-number",
        "2",
    )
    assert "exactly one of" in one_line_error(both, code=2)
    line = one_line_error(sectigo(cluster, "--kubeconfig", "/nonexistent", "status", "x"))
    assert "kubeconfig" in line

    apply(cluster, namespace, _cert_without_operator())
    refused = sectigo(cluster, *n, "revoke", "idle", "--reason", "x" * 600)
    line = one_line_error(refused)
    assert "refused" in line and "revokeRequest" in line


def _cert_without_operator() -> dict[str, Any]:
    return certificate("idle", commonName="idle.example.com")
