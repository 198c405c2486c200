"""deploy/: the kustomize base and overlays are accepted by a real API server (server-side dry
run), the Deployment is locked down, and both overlays grant the same rules.

What the rules are worth is shown by tests/e2e/test_rbac.py (the operator runs as the
ServiceAccount, and each rule is needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fixtures.cluster import Cluster
from tests.fixtures.serviceaccount import DEPLOY

pytestmark = pytest.mark.cluster

TARGETS = ["base", "overlays/cluster-wide", "overlays/namespaced"]


def build(cluster: Cluster, target: str) -> list[dict[str, Any]]:
    """The objects ``kubectl kustomize`` renders for ``deploy/<target>``."""
    out = cluster.kubectl("kustomize", str(DEPLOY / target)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("target", TARGETS)
def test_server_side_dry_run_accepts_every_object(cluster: Cluster, target: str) -> None:
    # Namespaced objects of a dry run need their namespace to exist (a dry run creates nothing).
    cluster.kubectl("create", "namespace", "sectigo-system", check=False)
    result = cluster.kubectl("apply", "--dry-run=server", "-k", str(DEPLOY / target))
    kinds = {line.split("/")[0] for line in result.stdout.splitlines()}
    assert "deployment.apps" in kinds and "serviceaccount" in kinds, result.stdout
    assert "customresourcedefinition.apiextensions.k8s.io" in kinds


def test_deployment_is_locked_down(cluster: Cluster) -> None:
    objects = build(cluster, "overlays/cluster-wide")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "sectigo-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "--leader-elect" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert "memory" in container["resources"]["limits"]
    namespaced = build(cluster, "overlays/namespaced")
    args = next(o for o in namespaced if o["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["args"]
    assert "--namespace=$(POD_NAMESPACE)" in args


def test_both_overlays_grant_the_same_rules_and_only_roles_when_namespaced(
    cluster: Cluster,
) -> None:
    cluster_wide = build(cluster, "overlays/cluster-wide")
    namespaced = build(cluster, "overlays/namespaced")
    cluster_role = next(o for o in cluster_wide if o["kind"] == "ClusterRole")
    role = next(
        o for o in namespaced if o["kind"] == "Role" and o["metadata"]["name"] == "sectigo-operator"
    )
    assert cluster_role["rules"] == role["rules"]
    assert not [o for o in namespaced if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule


def test_every_rule_says_which_code_needs_it() -> None:
    for path in [
        DEPLOY / "overlays/cluster-wide/clusterrole.yaml",
        DEPLOY / "overlays/namespaced/role.yaml",
        DEPLOY / "base/leader-election-rbac.yaml",
    ]:
        lines = Path(path).read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("- apiGroups:"):
                assert lines[i - 1].strip().startswith("#"), f"{path.name}:{i + 1} has no comment"
