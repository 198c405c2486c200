"""The operator runs as the deploy ServiceAccount with exactly the RBAC of ``deploy/``.

The token comes from the TokenRequest API (``kubectl create token``), as a pod would get one; the
rules are read from ``deploy/overlays/namespaced/role.yaml`` and ``deploy/base``'s leader
election Role. One scenario drives every operation that needs a rule: leader election,
issuance, an Event, a renewal request (Secret update), a deleted Secret restored by a wake-up
(get of the certificate), and a deletion with ``deletionPolicy: DeleteSecret``.

- With all rules, the scenario completes and the API server refused nothing.
- Without any one rule, the API server refuses the operation the rule's comment names (the
  operator's log shows the 403 for that verb and resource), so no rule is superfluous.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    get,
    secret_exists,
)
from tests.fixtures.serviceaccount import (
    install_service_account,
    leader_election_rules,
    rbac_rules,
    service_account_kubeconfig,
)

from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

RULES = rbac_rules()
LEASE_RULES = leader_election_rules()
ALL = RULES + LEASE_RULES

# What the API server says when each rule is missing (one entry per rule, in file order).
REFUSED = [
    r'cannot (list|watch) resource \\?"sectigo(certificates|configs|profiles)\\?"',
    r"Forbidden \(get sectigocertificates\)",
    r'cannot patch resource \\?"sectigo(certificates|configs|profiles)\\?"',
    r"Forbidden \(patch sectigo(certificates|configs|profiles)/status\)",
    r"Forbidden \(get secrets\)",
    r"Forbidden \((list|watch) secrets\)",  # the operator's own Secret watch
    r"Forbidden \(create secrets\)",
    r"Forbidden \(update secrets\)",
    r"Forbidden \(delete secrets\)",
    r'cannot create resource \\?"events\\?"',
    r"Forbidden \(create leases\)",
    r"Forbidden \(get leases\)",
]


class Refused(Exception):
    """The operator's log shows the refusal the test waits for."""


def run_scenario(
    cluster: Cluster,
    namespace: str,
    sandbox: SandboxHandle,
    operator: OperatorProcess,
    refused: str | None,
) -> None:
    """Issue, renew on request, restore a deleted Secret, delete: each step waits with a deadline;
    with ``refused`` set, stop (Refused) as soon as the log shows that refusal."""

    def until(probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
        def check() -> Any:
            if refused and re.search(refused, operator.logs()):
                raise Refused(refused)
            return probe()

        return wait_for(check, timeout=timeout, what=what)

    def cert_field(*path: str) -> Any:
        value: Any = get(cluster, namespace, CERT, "rbac")
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def ready_conditions() -> bool:
        conditions = cert_field("status", "conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    spec = {"commonName": "rbac.example.com", "deletionPolicy": "DeleteSecret"}
    apply(cluster, namespace, certificate("rbac", **spec))
    until(lambda: cert_field("status", "state") == "Issued" and ready_conditions(), "Ready")
    until(lambda: not secret_exists(cluster, namespace, "rbac-sectigo-pending-key"), "key gone")
    first = check_secret(cluster, namespace, "rbac-tls", sandbox)

    def event_posted() -> bool:
        events = cluster.get_json("events", "-n", namespace)["items"]
        return any(e["involvedObject"].get("name") == "rbac" for e in events)

    until(event_posted, "an Event about the certificate")

    apply(cluster, namespace, certificate("rbac", **spec, renewRequest={"id": "r1"}))
    until(
        lambda: (
            cert_field("status", "lastRenewRequestId") == "r1"
            and cert_field("status", "state") == "Issued"
        ),
        "renewal r1",
    )
    renewed = check_secret(cluster, namespace, "rbac-tls", sandbox)
    assert renewed.serial_number != first.serial_number

    cluster.kubectl("delete", "secret", "rbac-tls", "-n", namespace)
    until(lambda: secret_exists(cluster, namespace, "rbac-tls"), "Secret restored")

    cluster.kubectl("delete", CERT, "rbac", "-n", namespace, "--wait=false")
    until(
        lambda: cluster.kubectl("get", CERT, "rbac", "-n", namespace, check=False).returncode != 0,
        "certificate deleted",
    )
    until(lambda: not secret_exists(cluster, namespace, "rbac-tls"), "Secret deleted with it")


def start_as_service_account(
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    rules: list[dict[str, Any]],
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> OperatorProcess:
    install_service_account(cluster, namespace, rules)
    kubeconfig = service_account_kubeconfig(cluster, tmp_path / "sa.kubeconfig", namespace)
    scm_setup()
    return operator_factory(
        namespace,
        "--leader-elect",
        "--lease-namespace",
        namespace,
        "--lease-duration",
        "6",
        KUBECONFIG=str(kubeconfig),
    )


def test_operator_works_as_the_service_account_with_the_deploy_rbac(
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    operator = start_as_service_account(
        cluster, namespace, tmp_path, ALL, scm_setup, operator_factory
    )
    run_scenario(cluster, namespace, sandbox_scm, operator, refused=None)
    logs = operator.logs()
    assert "acquired lease" in logs
    assert not re.search(r"forbidden|HTTP 403", logs, re.IGNORECASE), [
        line for line in logs.splitlines() if re.search("forbidden|403", line, re.IGNORECASE)
    ][:5]
    lease = cluster.get_json("lease", "sectigo-operator", "-n", namespace)
    assert lease["spec"]["holderIdentity"]


def test_refusals_table_matches_the_rules() -> None:
    assert len(REFUSED) == len(ALL)


@pytest.mark.parametrize("index", range(len(ALL)), ids=lambda i: _rule_id(ALL[i]))
def test_each_rule_is_needed(
    index: int,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    rules = [rule for i, rule in enumerate(ALL) if i != index]
    operator = start_as_service_account(
        cluster, namespace, tmp_path, rules, scm_setup, operator_factory
    )
    with pytest.raises(Refused):
        run_scenario(cluster, namespace, sandbox_scm, operator, refused=REFUSED[index])
    assert operator.proc is not None


def _rule_id(rule: dict[str, Any]) -> str:
    return "-".join(rule["verbs"]) + ":" + ",".join(r.split("/")[-1] for r in rule["resources"])
