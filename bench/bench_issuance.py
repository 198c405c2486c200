"""Burst benchmark of issuance: N SectigoCertificates applied at once, until all are Ready.

Everything real and on 127.0.0.1: a fresh local control plane (etcd + kube-apiserver), the
sandbox SCM in its own process issuing immediately, and the operator in its own process. The
benchmark creates N certificates as fast as 8 threads can (recording each creation time), watches
them become Ready (recording the time each Ready=True is seen), and reports:

- certificates per second: N / (last Ready seen - first creation);
- create-to-Ready p50 and p95;
- the operator's peak RSS (``VmHWM``);
- Kubernetes API writes per certificate (the apiserver's ``apiserver_request_total`` for create,
  update, patch and delete, minus the benchmark's own N creates); on stderr each request kind
  per certificate, reads (GET, LIST) included;
- SCM calls per certificate (the sandbox's per-endpoint counters);
- on stderr: the operator's CPU (all threads, the event loop's thread, the kernel's part) and how
  idle the whole machine was during the burst (from /proc/stat).

``BENCH_TIMES=<file>`` writes each certificate's create and Ready times (monotonic seconds) there
as JSON, to see how the burst progressed.

Run: ``python bench/bench_issuance.py [--count N] [--key ecdsa|rsa|both] [--write-docs]``
(``make bench`` runs both key types with N=200 and updates docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import kubernetes

from sectigo_operator import controlplane

ROOT = Path(__file__).resolve().parents[1]
GROUP, VERSION, PLURAL = "sectigo-operator.io", "v1alpha1", "sectigocertificates"
NS = "bench"
WRITE_VERBS = ("CREATE", "UPDATE", "PATCH", "DELETE", "POST", "PUT")
READ_VERBS = ("GET", "LIST")


@dataclass
class Result:
    key: str
    count: int
    seconds: float
    per_second: float
    p50: float
    p95: float
    peak_rss_mib: float
    api_writes_per_cert: float
    scm_calls_per_cert: float


def apiserver_requests(
    plane: controlplane.ControlPlane, verbs: tuple[str, ...] = WRITE_VERBS
) -> dict[str, int]:
    """The apiserver's requests so far with one of ``verbs`` (writes unless told), by "VERB
    resource[/subresource]"."""
    text = plane.kubectl("get", "--raw", "/metrics").stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{"):
            verb = re.search(r'verb="([A-Z]+)"', line)
            if verb and verb.group(1) in verbs:
                resource = re.search(r'resource="([^"]*)"', line)
                sub = re.search(r'subresource="([^"]+)"', line)
                name = (resource.group(1) if resource else "?") + (
                    f"/{sub.group(1)}" if sub else ""
                )
                key = f"{verb.group(1)} {name}"
                counts[key] = counts.get(key, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


def start_sandbox(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sectigo_operator.cli",
            "sandbox-scm",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--log-file",
            str(state / "log"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found:
            return proc, found.group(0)
    raise RuntimeError("sandbox did not start")


def _stat(pid: int, task: int | None) -> list[str]:
    """The fields after the command name in /proc/<pid>/stat (of one thread with ``task``)."""
    path = f"/proc/{pid}/task/{task}/stat" if task is not None else f"/proc/{pid}/stat"
    return Path(path).read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, task: int | None = None) -> float:
    """User and system CPU of a running process so far (of one of its threads with ``task``:
    the event loop's is the process's own id)."""
    fields = _stat(pid, task)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_seconds(pid: int, task: int | None = None) -> float:
    """The system (kernel) part of :func:`cpu_seconds`."""
    return int(_stat(pid, task)[12]) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> list[int]:
    """The machine's CPU ticks so far, all cores (user, nice, system, idle, iowait, irq,
    softirq, ...: the first line of /proc/stat)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def certificate(i: int, key: str) -> dict[str, Any]:
    algorithm, size = ("ECDSA", 256) if key == "ecdsa" else ("RSA", 2048)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SectigoCertificate",
        "metadata": {"name": f"cert-{i:05d}", "namespace": NS},
        "spec": {
            "configRef": {"name": "scm"},
            "certificateType": "ssl",
            "secretName": f"cert-{i:05d}-tls",
            "commonName": f"host{i}.bench.example.com",
            "privateKey": {"algorithm": algorithm, "size": size},
        },
    }


def apply_config(plane: controlplane.ControlPlane, url: str) -> None:
    """The credentials Secret and the SectigoConfig ``scm`` for the sandbox at ``url``."""
    manifests = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "scm-credentials"},
            "stringData": {"login": "admin", "password": "sandbox-password"},
        },
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SectigoConfig",
            "metadata": {"name": "scm"},
            "spec": {
                "url": url,
                "customerUri": "sandbox",
                "orgId": 1234,
                "credentialsSecretRef": {"name": "scm-credentials"},
                "ssl": {"certType": 51, "term": 365},
                "collect": {"maxTimeout": 60, "loopPeriod": 1},
                "maxConcurrentRequests": 32,
            },
        },
    ]
    plane.kubectl(
        "apply",
        "-n",
        NS,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
    )


def run(count: int, key: str, workdir: Path) -> Result:
    binaries = controlplane.find_binaries() or controlplane.build_binaries()
    with controlplane.ControlPlane(binaries, workdir / f"cp-{key}") as plane:
        plane.install_crds()
        sandbox, url = start_sandbox(workdir / f"scm-{key}")
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        plane.kubectl("create", "namespace", NS)
        apply_config(plane, url)
        operator = subprocess.Popen(
            [sys.executable, "-m", "sectigo_operator.cli", "run", "--namespace", NS],
            env=env,
            stdout=(workdir / f"operator-{key}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            plane.kubectl(
                "wait", "-n", NS, "--for=condition=Ready", "--timeout=60s", "sectigoconfig/scm"
            )
            config = kubernetes.client.Configuration()
            kubernetes.config.load_kube_config(str(plane.kubeconfig), client_configuration=config)
            config.connection_pool_maxsize = 16
            api = kubernetes.client.ApiClient(config)
            custom = kubernetes.client.CustomObjectsApi(api)
            scm_before = httpx.get(f"{url}/sandbox-admin/counters").json()
            requests_before = apiserver_requests(plane, WRITE_VERBS + READ_VERBS)

            ready_at: dict[str, float] = {}
            created_at: dict[str, float] = {}
            done = threading.Event()

            def watch() -> None:
                w = kubernetes.watch.Watch()
                for event in w.stream(
                    custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    NS,
                    PLURAL,
                    timeout_seconds=600,
                ):
                    obj = event["object"]
                    conds = obj.get("status", {}).get("conditions", [])
                    if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                        ready_at.setdefault(obj["metadata"]["name"], time.monotonic())
                    if len(ready_at) >= count or done.is_set():
                        w.stop()
                        return

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()

            def create(i: int) -> None:
                body = certificate(i, key)
                t = time.monotonic()
                custom.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, body)
                created_at[body["metadata"]["name"]] = t

            ticks_before = machine_ticks()
            sys.stderr.write(f"  burst started: {count} certificates\n")
            sys.stderr.flush()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(create, range(count)))
            watcher.join(timeout=600)
            ticks = [b - a for a, b in zip(ticks_before, machine_ticks(), strict=True)]
            sys.stderr.write(
                f"  machine in the burst: {100 * (ticks[3] + ticks[4]) / sum(ticks):.1f} % idle "
                f"(all cores), {100 * (ticks[2] + ticks[5] + ticks[6]) / sum(ticks):.1f} % in "
                "the kernel\n"
            )
            done.set()
            if len(ready_at) < count:
                raise RuntimeError(f"only {len(ready_at)}/{count} Ready; see operator-{key}.log")
            requests_after = apiserver_requests(plane, WRITE_VERBS + READ_VERBS)
            if os.environ.get("BENCH_TIMES"):  # a file: each certificate's create and Ready times
                Path(os.environ["BENCH_TIMES"]).write_text(
                    json.dumps({n: [created_at[n], ready_at[n]] for n in created_at})
                )
            if os.environ.get("BENCH_DUMP"):
                sys.stderr.write(
                    plane.kubectl(
                        "get", PLURAL, "-n", NS, "-o", "yaml", "--show-managed-fields"
                    ).stdout[:6000]
                )
            for what in sorted(requests_after):
                added = requests_after[what] - requests_before.get(what, 0)
                if added:
                    sys.stderr.write(f"  {what}: {added / count:.2f} per certificate\n")
            scm_after = httpx.get(f"{url}/sandbox-admin/counters").json()
            rss = peak_rss_mib(operator.pid)
            # start-up included: the slope between two counts is the cost per certificate
            total, loop = cpu_seconds(operator.pid), cpu_seconds(operator.pid, operator.pid)
            sys.stderr.write(
                f"  operator CPU: {total:.2f} s in all, {loop:.2f} s of it in the event loop's "
                f"thread, {total - loop:.2f} s in the others (key generation, Secret watch); "
                f"in the kernel {system_seconds(operator.pid):.2f} s, "
                f"{system_seconds(operator.pid, operator.pid):.2f} s of it in the loop's thread\n"
            )
        finally:
            operator.terminate()
            operator.wait(30)
            sandbox.terminate()
            sandbox.wait(30)
    latencies = sorted(ready_at[n] - created_at[n] for n in created_at)
    seconds = max(ready_at.values()) - min(created_at.values())
    scm_calls = _total_calls(scm_after) - _total_calls(scm_before)
    return Result(
        key=key,
        count=count,
        seconds=seconds,
        per_second=count / seconds,
        p50=statistics.median(latencies),
        p95=latencies[int(0.95 * (len(latencies) - 1))],
        peak_rss_mib=rss,
        api_writes_per_cert=(
            _sum(requests_after, WRITE_VERBS) - _sum(requests_before, WRITE_VERBS) - count
        )
        / count,
        scm_calls_per_cert=scm_calls / count,
    )


def _sum(counts: dict[str, int], verbs: tuple[str, ...]) -> int:
    return sum(n for what, n in counts.items() if what.split(" ", 1)[0] in verbs)


def _total_calls(counters: dict[str, Any]) -> int:
    calls = counters.get("callsByEndpoint") or {}
    return sum(int(v) for v in calls.values()) if isinstance(calls, dict) else 0


TABLE_HEADER = (
    "| key | certificates | seconds | certificates/s | create-to-Ready p50 | p95 "
    "| operator peak RSS | API writes/cert | SCM calls/cert |\n"
    "|---|---|---|---|---|---|---|---|---|\n"
)


def row(r: Result) -> str:
    return (
        f"| {r.key} | {r.count} | {r.seconds:.1f} | **{r.per_second:.1f}** | {r.p50:.2f} s "
        f"| {r.p95:.2f} s | {r.peak_rss_mib:.0f} MiB | {r.api_writes_per_cert:.1f} "
        f"| {r.scm_calls_per_cert:.1f} |\n"
    )


def write_docs(results: list[Result], command: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = "<!-- bench_issuance:start -->", "<!-- bench_issuance:end -->"
    block = (
        f"{start}\nCommand: `{command}` ({time.strftime('%Y-%m-%d')}, 2 cores shared by the "
        "control plane, the sandbox SCM, the operator and the benchmark).\n\n"
        + TABLE_HEADER
        + "".join(row(r) for r in results)
        + end
    )
    if start in text:
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), block, text, flags=re.S)
    else:
        text += "\n## Issuance burst\n\n" + block + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--key", choices=["ecdsa", "rsa", "both"], default="both")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    keys = ["ecdsa", "rsa"] if args.key == "both" else [args.key]
    results = []
    keep = os.environ.get("BENCH_KEEP")  # a directory: keep the logs (operator-<key>.log) there
    with tempfile.TemporaryDirectory(prefix="bench-issuance-") as tmp:
        for key in keys:
            workdir = Path(keep) if keep else Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            result = run(args.count, key, workdir)
            results.append(result)
            sys.stdout.write(TABLE_HEADER + row(result))
            sys.stdout.flush()
    if args.write_docs:
        command = "python bench/bench_issuance.py " + " ".join(sys.argv[1:])
        write_docs(results, command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
