"""Fault injection: whatever goes wrong, no order is placed twice, no key is lost or left behind,
every valid certificate ends Ready with a Secret whose key matches, and the operator never
crashes.

- SIGKILL at random points of a burst, several times (the seed is printed; ``FAULT_SEED``
  replays a run);
- SCM answering 500, 429 with Retry-After, resetting connections, losing answers and slow;
- SCM down for a while (the sandbox stopped, then started again on the same port and state);
- the API server restarted in the middle of a burst.

Small N so that it fits CI; each check polls with a deadline.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import pytest
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    enroll_calls,
    get,
    wait_condition,
)

from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.settings import LABEL_PENDING_KEY

pytestmark = pytest.mark.cluster


def burst(cluster: Cluster, namespace: str, prefix: str, n: int) -> list[str]:
    names = [f"{prefix}-{i}" for i in range(n)]
    apply(
        cluster,
        namespace,
        *(certificate(name, commonName=f"{name}.example.com") for name in names),
    )
    return names


def assert_sound(
    cluster: Cluster,
    namespace: str,
    sandbox: SandboxHandle,
    names: list[str],
    operator: OperatorProcess,
    timeout: float = 120,
) -> None:
    """The invariants every fault test ends with."""
    for name in names:

        def issued(name: str = name) -> dict[str, Any] | None:
            obj = get(cluster, namespace, CERT, name)
            return obj if obj.get("status", {}).get("state") == "Issued" else None

        wait_for(issued, timeout=timeout, what=f"{name} Issued")
        obj = wait_condition(cluster, namespace, CERT, name, timeout=timeout)
        info = check_secret(cluster, namespace, f"{name}-tls", sandbox)  # key matches, chain ok
        assert info.serial_number == obj["status"]["serialNumber"]
        orders = sandbox.orders(common_name=f"{name}.example.com")
        assert len(orders) == 1, (name, [(o["id"], o["status"]) for o in orders])
        assert orders[0]["id"] == obj["status"]["sslId"]

    def no_stray_keys() -> bool:
        out = cluster.kubectl(
            "get", "secrets", "-n", namespace, "-l", LABEL_PENDING_KEY, "-o", "name"
        ).stdout
        return out.strip() == ""

    wait_for(no_stray_keys, timeout=30, what="no pending-key Secret left")
    assert operator.proc is not None and operator.proc.poll() is None, "the operator died"
    assert "Traceback" not in operator.logs()


def test_sigkill_at_random_points_of_a_burst(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    seed = int(os.environ.get("FAULT_SEED", random.randrange(1 << 30)))
    print(f"FAULT_SEED={seed}")
    rng = random.Random(seed)
    n = 12
    kill_after = sorted(rng.sample(range(1, n), 3))  # kill once the sandbox saw k enrolls
    sandbox_scm.inject_fault("latency", "*", count=None, latency_seconds=0.05)
    scm_setup()
    operator = operator_factory(namespace)
    names = burst(cluster, namespace, "kill", n)
    for k in kill_after:
        wait_for(lambda k=k: enroll_calls(sandbox_scm) >= k, timeout=60, what=f"{k} enrolls")
        operator.kill()
        operator.start()
    sandbox_scm.clear_faults()
    assert_sound(cluster, namespace, sandbox_scm, names, operator)
    assert operator.starts == 4


def test_scm_errors_rate_limits_resets_lost_answers_and_latency(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    enroll = "/api/ssl/v1/enroll"
    sandbox_scm.inject_fault("error", enroll, method="POST", count=2)
    sandbox_scm.inject_fault("response_lost", enroll, method="POST", count=2)
    sandbox_scm.inject_fault("rate_limit", "/api/ssl/v1/collect/*", count=3, status=429)
    sandbox_scm.inject_fault("reset", "/api/ssl/v1/collect/*", count=2)
    sandbox_scm.inject_fault("error", "/api/ssl/v1/collect/*", count=2, status=503)
    sandbox_scm.inject_fault("latency", "*", count=20, latency_seconds=0.5)
    scm_setup()
    operator = operator_factory(namespace)
    names = burst(cluster, namespace, "flaky", 8)
    assert_sound(cluster, namespace, sandbox_scm, names, operator)
    assert sandbox_scm.faults() == [], "every injected fault was hit"


def test_scm_down_for_a_while(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    sandbox_scm.update_settings(issueAfterCollects=2)  # orders stay pending across the outage
    scm_setup()
    operator = operator_factory(namespace)
    names = burst(cluster, namespace, "outage", 6)
    wait_for(lambda: enroll_calls(sandbox_scm) >= 3, timeout=60, what="enrolls before the outage")
    port, config, state = sandbox_scm.port, sandbox_scm.config, sandbox_scm.state_dir
    sandbox_scm.stop()

    def noticed() -> bool:
        for name in names:
            status = get(cluster, namespace, CERT, name).get("status", {})
            if status.get("lastError") or any(
                c.get("reason") in ("ScmUnavailable", "ConfigNotReady")
                for c in status.get("conditions", [])
            ):
                return True
        return False

    back: SandboxHandle | None = None
    try:
        wait_for(noticed, timeout=90, what="the operator notices SCM is down")
        back = SandboxHandle(config, state, port)
        assert_sound(cluster, namespace, back, names, operator, timeout=240)
    finally:
        if back is not None:
            back.stop()


def test_api_server_restarted_in_the_middle_of_a_burst(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    if cluster.plane is None:
        pytest.skip("needs the test's own control plane (not SECTIGO_TEST_KUBECONFIG)")
    sandbox_scm.inject_fault("latency", "*", count=None, latency_seconds=0.2)
    scm_setup()
    operator = operator_factory(namespace)
    names = burst(cluster, namespace, "apirestart", 8)
    wait_for(lambda: enroll_calls(sandbox_scm) >= 2, timeout=60, what="enrolls before restart")
    cluster.plane.restart_apiserver()
    sandbox_scm.clear_faults()
    assert_sound(cluster, namespace, sandbox_scm, names, operator, timeout=180)


def test_a_pending_key_written_late_by_another_process_is_removed(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    """A frozen old leader may write a pending key after the new leader issued the certificate:
    the watch sees a key the process did not write, and the certificate's step removes it."""
    scm_setup()
    operator = operator_factory(namespace)
    (name,) = burst(cluster, namespace, "late", 1)
    ready = wait_condition(cluster, namespace, CERT, name, timeout=60)
    cluster.kubectl(
        "create", "secret", "generic", f"{name}-sectigo-pending-key", "-n", namespace,
        "--from-literal=tls.key=not-a-real-key",
    )  # fmt: skip
    cluster.kubectl(
        "label", "secret", f"{name}-sectigo-pending-key", "-n", namespace,
        "app.kubernetes.io/managed-by=sectigo-operator",
        f"sectigo-operator.io/certificate={name}", f"{LABEL_PENDING_KEY}=true",
    )  # fmt: skip
    assert_sound(cluster, namespace, sandbox_scm, [name], operator)
    after = get(cluster, namespace, CERT, name)
    assert after["status"]["serialNumber"] == ready["status"]["serialNumber"]
