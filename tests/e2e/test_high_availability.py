"""Two operator processes with ``--leader-elect``: one works, the other waits; the Lease hands
over when the active one dies; a leader frozen past its Lease (SIGSTOP) and woken up (SIGCONT)
places no second order and writes nothing over the new leader's work. Also: ``/metrics`` of the
active process shows the certificates it made, ``/readyz`` and ``/healthz`` answer on both.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.operator import (
    CERT,
    OperatorProcess,
    apply,
    certificate,
    check_secret,
    enroll_calls,
    get,
    secret_exists,
    wait_condition,
)

from sectigo_operator.sandbox.testing import SandboxHandle

pytestmark = pytest.mark.cluster

LEASE_SECONDS = 4.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return 0, ""


class Replica:
    def __init__(self, op: OperatorProcess, port: int) -> None:
        self.op, self.port = op, port

    @property
    def pid(self) -> int:
        assert self.op.proc is not None
        return self.op.proc.pid

    def role(self) -> str | None:
        status, body = http_get(self.port, "/readyz")
        return str(json.loads(body)["role"]) if status else None


def start_replicas(
    namespace: str, operator_factory: Callable[..., OperatorProcess], count: int = 2
) -> list[Replica]:
    replicas = []
    for _ in range(count):
        port = free_port()
        op = operator_factory(
            namespace,
            "--leader-elect",
            "--lease-namespace",
            namespace,
            "--lease-duration",
            str(LEASE_SECONDS),
            "--http-address",
            f"127.0.0.1:{port}",
        )
        replicas.append(Replica(op, port))
    return replicas


def holder(cluster: Cluster, namespace: str) -> str | None:
    result = cluster.kubectl("get", "lease", "sectigo-operator", "-n", namespace, "-o", "json",
                             check=False)  # fmt: skip
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)["spec"].get("holderIdentity")


def leader_of(cluster: Cluster, namespace: str, replicas: list[Replica]) -> tuple[Replica, Replica]:
    """(active, standby) once the Lease is held and both answer their probes."""

    def settled() -> tuple[Replica, Replica] | None:
        who = holder(cluster, namespace)
        roles = [r.role() for r in replicas]
        if who is None or sorted(map(str, roles)) != ["leader", "standby"]:
            return None
        active = next(r for r in replicas if who.endswith(f"_{r.pid}"))
        standby = next(r for r in replicas if r is not active)
        return (active, standby) if active.role() == "leader" else None

    result: tuple[Replica, Replica] = wait_for(settled, timeout=60, what="one leader, one standby")
    return result


def metric(port: int, name: str, labels: dict[str, str] | None = None) -> float | None:
    status, text = http_get(port, "/metrics")
    assert status == 200
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "sectigo_operator_" + name and s.labels == (labels or {}):
                return float(s.value)
    return None


def one_order_each(sandbox: SandboxHandle, names: list[str]) -> None:
    for name in names:
        orders = sandbox.orders(common_name=f"{name}.example.com")
        assert len(orders) == 1, (name, orders)


def test_one_works_the_other_waits_then_takes_over_and_metrics_tell(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    scm_setup()
    replicas = start_replicas(namespace, operator_factory)
    active, standby = leader_of(cluster, namespace, replicas)
    assert http_get(standby.port, "/healthz")[0] == 200
    assert http_get(standby.port, "/readyz")[0] == 200
    names = ["ha-a", "ha-b"]
    for name in names:
        apply(cluster, namespace, certificate(name, commonName=f"{name}.example.com"))
    for name in names:
        wait_condition(cluster, namespace, CERT, name)
    assert "certificate-create" not in standby.op.logs()  # the standby did nothing

    # /metrics of the active replica: the certificates it made, orders and SCM requests
    obj = get(cluster, namespace, CERT, "ha-a")
    labels = {"namespace": namespace, "name": "ha-a", "config": "scm"}
    not_after = obj["status"]["notAfter"]
    expiry = metric(active.port, "certificate_expiry_timestamp_seconds", labels)
    assert expiry is not None and abs(expiry - _epoch(not_after)) < 1
    renewal = metric(active.port, "certificate_renewal_timestamp_seconds", labels)
    assert renewal is not None and abs(renewal - _epoch(obj["status"]["renewalTime"])) < 1
    assert metric(active.port, "certificate_ready", labels) == 1
    assert metric(active.port, "certificate_issuing", labels) == 0
    enrolled = {"config": "scm", "profile": "51", "operation": "Enroll"}
    assert metric(active.port, "orders_total", enrolled) == 2
    sent = metric(active.port, "scm_requests_total", {"operation": "ssl enroll", "result": "200"})
    assert sent == 2
    assert metric(active.port, "pending_orders") == 0
    assert metric(active.port, "leader") == 1 and metric(standby.port, "leader") == 0
    # a deleted certificate's series go (the default policy puts no finalizer on it)
    cluster.kubectl("delete", CERT, "ha-b", "-n", namespace)
    gone = {"namespace": namespace, "name": "ha-b", "config": "scm"}
    wait_for(
        lambda: metric(active.port, "certificate_expiry_timestamp_seconds", gone) is None,
        timeout=30,
        what="the deleted certificate's series removed",
    )
    assert metric(active.port, "certificate_expiry_timestamp_seconds", labels) is not None

    # the active replica dies: the standby takes over within the lease time
    active.op.kill()
    killed_at = time.monotonic()
    wait_for(lambda: standby.role() == "leader", timeout=30, what="standby takes over")
    handover = time.monotonic() - killed_at
    print(f"handover after SIGKILL: {handover:.1f} s (lease {LEASE_SECONDS:.0f} s)")
    assert handover < LEASE_SECONDS + 3, handover
    apply(cluster, namespace, certificate("ha-c", commonName="ha-c.example.com"))
    wait_condition(cluster, namespace, CERT, "ha-c")
    check_secret(cluster, namespace, "ha-c-tls", sandbox_scm)
    one_order_each(sandbox_scm, [*names, "ha-c"])
    assert enroll_calls(sandbox_scm) == 3


def test_a_frozen_leader_woken_up_places_no_second_order(
    cluster: Cluster,
    namespace: str,
    sandbox_scm: SandboxHandle,
    scm_setup: Callable[..., dict[str, Any]],
    operator_factory: Callable[..., OperatorProcess],
) -> None:
    """SIGSTOP the leader while its enroll requests are at SCM (held there by a latency fault),
    past its Lease; the standby takes over, adopts the orders by their markers and finishes
    them. SIGCONT: the old leader reads its answers, but its writes are fenced and its Lease is
    gone; it stops by itself. Each certificate has exactly one order."""
    sandbox_scm.inject_fault("latency", "/api/ssl/v1/enroll", method="POST", latency_seconds=2.0)
    scm_setup()
    replicas = start_replicas(namespace, operator_factory)
    active, standby = leader_of(cluster, namespace, replicas)
    names = [f"frozen-{i}" for i in range(6)]
    for name in names:
        apply(cluster, namespace, certificate(name, commonName=f"{name}.example.com"))
    wait_for(lambda: enroll_calls(sandbox_scm) >= 2, timeout=60, what="enrolls at SCM")
    assert active.op.proc is not None
    active.op.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: standby.role() == "leader", timeout=30, what="standby takes over")
        for name in names:
            wait_condition(cluster, namespace, CERT, name, timeout=90)
    finally:
        active.op.proc.send_signal(signal.SIGCONT)
    before = {n: get(cluster, namespace, CERT, n)["status"]["serialNumber"] for n in names}
    code = active.op.proc.wait(60)  # it notices the lost Lease and stops
    assert code == 1
    assert "leadership lost" in active.op.logs()
    one_order_each(sandbox_scm, names)
    for name in names:
        obj = wait_condition(cluster, namespace, CERT, name)
        assert obj["status"]["state"] == "Issued"
        assert obj["status"]["serialNumber"] == before[name]
        info = check_secret(cluster, namespace, f"{name}-tls", sandbox_scm)
        assert info.serial_number == before[name]
        assert not secret_exists(cluster, namespace, f"{name}-sectigo-pending-key")


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
