"""What each of the operator's API requests costs the API server and etcd, measured alone.

The burst benchmarks give the API server's CPU for a whole issuance; this one takes it apart.
On a fresh local control plane with the CRDs, watched as the operator and the burst driver
watch it (two watches on certificates, one on the managed Secrets, each stream read to the end),
it makes N requests of one kind at a time from 8 threads and reports the CPU the kube-apiserver
and etcd processes spent per request (utime + stime from /proc):

- ``create certificate``: the driver's create of a SectigoCertificate (the CRD's schema and CEL);
- ``status patch (marker)`` and ``status patch (issued)``: the operator's two merge patches;
- ``create Secret (key)``, ``replace Secret (certificate)``: the two Secret writes;
- ``get Secret (missing)``: a step's read of a Secret that does not exist;
- ``create Event``.

``--no-cel`` installs the certificate CRD without its ``x-kubernetes-validations`` rules, to
measure what the rules cost; ``--untyped-status`` with its status schema replaced by an object
with ``x-kubernetes-preserve-unknown-fields``, to measure what the typed status costs. Only
loopback addresses are used.

Run: ``python bench/bench_apiserver.py [--count N] [--no-cel] [--untyped-status]``
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from bench_issuance import GROUP, NS, PLURAL, VERSION, certificate

from sectigo_operator import controlplane

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"app.kubernetes.io/managed-by": "sectigo-operator"}


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def strip_cel(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_cel(v) for k, v in node.items() if k != "x-kubernetes-validations"}
    if isinstance(node, list):
        return [strip_cel(v) for v in node]
    return node


def crds(directory: Path, no_cel: bool, untyped_status: bool = False) -> Path:
    """The CRDs to install: a copy of the certificate CRD without CEL rules with ``no_cel``, with
    an untyped status with ``untyped_status``."""
    if not no_cel and not untyped_status:
        return ROOT / "crds"
    for path in (ROOT / "crds").glob("sectigo-operator.io_*.yaml"):
        doc = yaml.safe_load(path.read_text())
        if path.name.endswith("sectigocertificates.yaml"):
            if no_cel:
                doc = strip_cel(doc)
            if untyped_status:
                untyped = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                for version in doc["spec"]["versions"]:
                    version["schema"]["openAPIV3Schema"]["properties"]["status"] = untyped
        (directory / path.name).write_text(yaml.safe_dump(doc))
    return directory


def conditions(ready: bool, reason: str, message: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(kind: str, status: str, why: str, text: str) -> dict[str, Any]:
        return {
            "type": kind,
            "status": status,
            "reason": why,
            "message": text,
            "lastTransitionTime": now,
            "observedGeneration": 1,
        }

    return [
        one("Stalled", "False", "NotStalled", "nothing needs a person"),
        one("Ready", "True" if ready else "False", reason, message),
        one("Issuing", "False" if ready else "True", "NotIssuing" if ready else reason, message),
    ]


def marker_status(i: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "status": {
            "state": "Enrolling",
            "observedGeneration": 1,
            "enrollment": {
                "marker": f"k8s:{i:036d}:0",
                "startedAt": now,
                "operation": "Enroll",
                "attempt": 0,
                "placed": False,
                "reason": "no certificate has been issued yet",
            },
            "history": [{"status": "Enrolling", "timestamp": now, "message": "no certificate yet"}],
            "conditions": conditions(False, "Enrolling", "enrolling with SCM"),
        }
    }


def issued_status(i: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = marker_status(i)
    status = body["status"]
    status.update(
        {
            "state": "Issued",
            "sslId": i + 1,
            "certUniqueId": f"{i + 1}_sandbox",
            "renewId": f"renew-{i:020d}",
            "collectStartedAt": now,
            "notBefore": now,
            "notAfter": now,
            "renewalTime": now,
            "serialNumber": ":".join(["7A"] * 20),
            "fingerprint": "ab" * 32,
            "secretName": f"cert-{i:05d}-tls",
            "secretDigest": "cd" * 32,
            "scmStatus": "Issued",
            "failedAttempts": 0,
            "orderedCertType": 51,
            "orderedTerm": 365,
            "conditions": conditions(True, "Issued", "certificate is in its Secret"),
        }
    )
    status["enrollment"] = {**status["enrollment"], "placed": True, "attempt": 1}
    status["history"] += [
        {"status": "Applied", "timestamp": now, "message": "enroll accepted by SCM"},
        {"status": "Issued", "timestamp": now, "message": "serial 7A, expires 2027-12-04"},
    ]
    return body


def secret(i: int, full: bool) -> dict[str, Any]:
    pem = base64.b64encode(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 180 + b"\n").decode()
    crt = base64.b64encode(b"C" * (2400 if full else 0)).decode()
    labels = {**LABELS, "sectigo-operator.io/certificate": f"cert-{i:05d}"}
    if not full:
        labels["sectigo-operator.io/pending-key"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"cert-{i:05d}-tls", "namespace": NS, "labels": labels},
        "type": "kubernetes.io/tls",
        "data": {"tls.key": pem, "tls.crt": crt, **({"ca.crt": crt} if full else {})},
    }


def event(i: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"generateName": f"cert-{i:05d}.", "namespace": NS},
        "involvedObject": {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SectigoCertificate",
            "name": f"cert-{i:05d}",
            "namespace": NS,
        },
        "reason": "Issued",
        "message": f"certificate {i + 1}_sandbox issued and stored in Secret 'cert-{i:05d}-tls'",
        "type": "Normal",
        "source": {"component": "sectigo-operator"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def watches(api: kubernetes.client.ApiClient, stop: threading.Event) -> Iterator[threading.Thread]:
    """Two certificate watches (the operator's and the driver's) and the managed-Secret one."""
    custom = kubernetes.client.CustomObjectsApi(api)
    core = kubernetes.client.CoreV1Api(api)
    streams: list[Callable[[], Any]] = [
        lambda: kubernetes.watch.Watch().stream(
            custom.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, timeout_seconds=600
        ),
        lambda: kubernetes.watch.Watch().stream(
            custom.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL, timeout_seconds=600
        ),
        lambda: kubernetes.watch.Watch().stream(
            core.list_namespaced_secret,
            NS,
            label_selector="app.kubernetes.io/managed-by=sectigo-operator",
            timeout_seconds=600,
        ),
    ]
    for open_stream in streams:

        def consume(open_stream: Callable[[], Any] = open_stream) -> None:
            try:
                for _ in open_stream():
                    if stop.is_set():
                        return
            except Exception:  # the control plane stopping under it
                if not stop.is_set():
                    raise

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        yield thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--no-cel", action="store_true")
    parser.add_argument("--untyped-status", action="store_true")
    args = parser.parse_args()
    n = args.count
    work = Path(tempfile.mkdtemp(prefix="bench-apiserver-"))
    binaries = controlplane.find_binaries() or controlplane.build_binaries()
    with controlplane.ControlPlane(binaries, work / "cp") as plane:
        plane.install_crds(crds(work, args.no_cel, args.untyped_status))
        plane.kubectl("create", "namespace", NS)
        config = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(str(plane.kubeconfig), client_configuration=config)
        config.connection_pool_maxsize = 16
        api = kubernetes.client.ApiClient(config)
        custom = kubernetes.client.CustomObjectsApi(api)
        core = kubernetes.client.CoreV1Api(api)
        stop = threading.Event()
        list(watches(api, stop))
        time.sleep(1.0)  # the watches are open

        def status(body: Callable[[int], dict[str, Any]]) -> Callable[[int], Any]:
            return lambda i: custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, NS, PLURAL, f"cert-{i:05d}", body(i)
            )

        def missing(i: int) -> None:
            try:
                core.read_namespaced_secret(f"cert-{i:05d}-sectigo-pending-key", NS)
            except kubernetes.client.ApiException as exc:
                assert exc.status == 404

        phases: list[tuple[str, Callable[[int], Any]]] = [
            (
                "create certificate",
                lambda i: custom.create_namespaced_custom_object(
                    GROUP, VERSION, NS, PLURAL, certificate(i, "ecdsa")
                ),
            ),
            ("get Secret (missing)", missing),
            ("create Secret (key)", lambda i: core.create_namespaced_secret(NS, secret(i, False))),
            ("status patch (marker)", status(marker_status)),
            (
                "replace Secret (certificate)",
                lambda i: core.replace_namespaced_secret(f"cert-{i:05d}-tls", NS, secret(i, True)),
            ),
            ("status patch (issued)", status(issued_status)),
            ("create Event", lambda i: core.create_namespaced_event(NS, event(i))),
        ]
        pids = plane.pids
        print(f"N={n} per kind, CEL rules {'off' if args.no_cel else 'on'}; load {load()}")
        print("| request | apiserver+etcd CPU per request |")
        print("|---|---|")
        total = 0.0
        with ThreadPoolExecutor(8) as pool:
            for name, call in phases:
                before = cpu_seconds(pids)
                list(pool.map(call, range(n)))
                time.sleep(0.5)
                spent = (cpu_seconds(pids) - before) / n * 1000
                total += spent
                print(f"| {name} | {spent:.2f} ms |")
        print(f"| all seven | {total:.2f} ms |")
        print(f"load {load()}")
        stop.set()
        time.sleep(0.5)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
