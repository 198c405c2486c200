"""Fleet benchmark: issue N certificates, then nothing due; what does the operator do meanwhile?

Issues N ECDSA certificates at once (everything real, on 127.0.0.1: a fresh control plane, the
sandbox SCM and the operator as processes) and reports the issuance time, the create-to-Ready
p50 (creationTimestamp to the Ready condition's lastTransitionTime, from the objects) and the
operator's peak RSS (VmHWM) during issuance. It waits until the last writes have settled, then
measures for ``--idle`` seconds (default 300):

- SCM calls (the sandbox's per-endpoint counters, its admin endpoint excluded);
- Kubernetes API writes to our resources, Secrets and Events (the apiserver's
  ``apiserver_request_total`` for mutating verbs, by resource: the apiserver's own lease
  updates are not the operator's);
- the operator's CPU time (``/proc/<pid>/stat``) and RSS.

Then it restarts the operator and measures the same for ``--restart-window`` seconds (default
60): a restart must cost reads only. "Steady after S s" means the operator used under 5% of a
core in the 5 s (or more) from S on: its restart work was done by S. Run: ``python
bench/bench_idle.py --count 1000 [--idle 300] [--write-docs]``; the fleet of issue 12 is
``--count 10000``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import kubernetes
from bench_issuance import (
    GROUP,
    NS,
    PLURAL,
    VERSION,
    WRITE_VERBS,
    apply_config,
    certificate,
    start_sandbox,
)

from sectigo_operator import controlplane

ROOT = Path(__file__).resolve().parents[1]
OUR_RESOURCES = ("sectigocertificates", "sectigoconfigs", "sectigoprofiles", "secrets", "events")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Window:
    seconds: float
    scm_calls: int
    api_writes: int
    cpu_seconds: float
    rss_mib: float
    load: str
    peak_rss_mib: float = float("nan")
    steady_after: float | None = None


@dataclass
class Issuance:
    seconds: float
    p50: float
    peak_rss_mib: float
    rss_settled_mib: float
    load: str
    scm_calls: int = 0
    api_writes: int = 0


def writes(plane: controlplane.ControlPlane) -> int:
    total = 0
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        verb = re.search(r'verb="([A-Z]+)"', line)
        resource = re.search(r'resource="([a-z]+)"', line)
        if (
            verb
            and verb.group(1) in WRITE_VERBS
            and resource
            and resource.group(1) in OUR_RESOURCES
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def scm_calls(url: str) -> int:
    counted = httpx.get(f"{url}/sandbox-admin/counters").json()["callsByEndpoint"]
    return sum(int(n) for e, n in counted.items() if "/sandbox-admin/" not in e)


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def measure(
    plane: controlplane.ControlPlane, url: str, pid: int, seconds: float, *, steady: bool = False
) -> Window:
    """Counters over a window of ``seconds``; with ``steady``, also the first moment from which
    the operator's CPU stayed under 5% of a core for 5 s (sampled every second)."""
    w0, s0, c0 = writes(plane), scm_calls(url), cpu(pid)
    start = time.monotonic()
    samples: list[tuple[float, float]] = [(start, c0)]
    steady_after: float | None = None
    while (now := time.monotonic()) < start + seconds:
        time.sleep(min(1.0, start + seconds - now))  # sampling inside a measurement window
        samples.append((time.monotonic(), cpu(pid)))
        if steady and steady_after is None:
            t1, c_1 = samples[-1]
            # the newest sample at least 5 s old (the sampling drifts: never "exactly 5 s")
            older = [s for s in samples if s[0] <= t1 - 5.0]
            if older and (c_1 - older[-1][1]) / (t1 - older[-1][0]) < 0.05:
                steady_after = older[-1][0] - start
    return Window(
        seconds,
        scm_calls(url) - s0,
        writes(plane) - w0,
        cpu(pid) - c0,
        rss(pid),
        load(),
        peak_rss(pid),
        steady_after,
    )


def fleet_times(items: list[dict[str, Any]]) -> tuple[float, float]:
    """(first creation to last Ready, median create-to-Ready) of the certificates, from their
    own timestamps (1 s resolution)."""

    def stamp(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    latencies, created_all, ready_all = [], [], []
    for item in items:
        ready = next(
            c
            for c in item["status"]["conditions"]
            if c["type"] == "Ready" and c["status"] == "True"
        )
        created = stamp(item["metadata"]["creationTimestamp"])
        ready_at = stamp(ready["lastTransitionTime"])
        latencies.append((ready_at - created).total_seconds())
        created_all.append(created)
        ready_all.append(ready_at)
    return (max(ready_all) - min(created_all)).total_seconds(), statistics.median(latencies)


TRACEMALLOC = os.environ.get("BENCH_TRACEMALLOC")
PYSPY = os.environ.get("BENCH_PYSPY")  # a file: py-spy's raw profile of the restart window
"""A directory: run the operator under ``bench/tracemalloc_run.py`` and have it write its top
allocations there once issuance has settled, at the end of the idle window and at the end of
the restart window."""


def start_operator(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    wrapper = [str(ROOT / "bench" / "tracemalloc_run.py"), TRACEMALLOC] if TRACEMALLOC else []
    command = wrapper or ["-m", "sectigo_operator.cli"]
    return subprocess.Popen(
        [sys.executable, *command, "run", "--namespace", NS],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def pyspy(pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (from the venv) sampling the operator's threads for ``seconds`` into PYSPY."""
    spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50",
         "--threads", "--nonblocking", "--format", "raw", "--output", str(PYSPY)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def run(
    count: int, idle: float, restart_window: float, workdir: Path
) -> tuple[Issuance, Window, Window]:
    binaries = controlplane.find_binaries() or controlplane.build_binaries()
    with controlplane.ControlPlane(binaries, workdir / "cp") as plane:
        plane.install_crds()
        sandbox, url = start_sandbox(workdir / "scm")
        env = {**os.environ, "KUBECONFIG": str(plane.kubeconfig)}
        plane.kubectl("create", "namespace", NS)
        apply_config(plane, url)
        log = workdir / "operator.log"
        operator = start_operator(env, log)
        try:
            plane.kubectl(
                "wait", "-n", NS, "--for=condition=Ready", "--timeout=60s", "sectigoconfig/scm"
            )
            cfg = kubernetes.client.Configuration()
            kubernetes.config.load_kube_config(str(plane.kubeconfig), client_configuration=cfg)
            custom = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(cfg))
            peak, scm_before, writes_before = 0.0, scm_calls(url), writes(plane)
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda i: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NS, PLURAL, certificate(i, "ecdsa")
                        ),
                        range(count),
                    )
                )
            deadline = time.monotonic() + 3600
            while True:
                items = custom.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)["items"]
                ready = sum(
                    any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in (i.get("status") or {}).get("conditions", [])
                    )
                    for i in items
                )
                if ready == count:
                    break
                peak = max(peak, peak_rss(operator.pid))
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {ready}/{count} Ready; see {log}")
                time.sleep(max(2.0, count / 500))  # polling with a deadline (a list is costly)
            issued_load = load()
            # settle: the last Events and Secret watch echoes of the burst
            while measure(plane, url, operator.pid, 10).api_writes:
                pass
            seconds, p50 = fleet_times(items)
            issued = Issuance(
                seconds,
                p50,
                max(peak, peak_rss(operator.pid)),
                rss(operator.pid),
                issued_load,
                scm_calls(url) - scm_before,
                writes(plane) - writes_before - count,  # minus the benchmark's own creates
            )
            if TRACEMALLOC:
                operator.send_signal(signal.SIGUSR2)
            idle_window = measure(plane, url, operator.pid, idle)
            if TRACEMALLOC:
                operator.send_signal(signal.SIGUSR2)
            operator.terminate()
            operator.wait(60)
            operator = start_operator(env, log)
            spy = pyspy(operator.pid, restart_window) if PYSPY else None
            restart = measure(plane, url, operator.pid, restart_window, steady=True)
            if TRACEMALLOC:
                operator.send_signal(signal.SIGUSR2)  # what the restarted one holds
            if spy is not None:
                spy.wait(60)
        finally:
            operator.terminate()
            operator.wait(60)
            sandbox.terminate()
            sandbox.wait(30)
    return issued, idle_window, restart


def table(count: int, issued: Issuance, idle: Window, restart: Window) -> str:
    def line(name: str, w: Window) -> str:
        return (
            f"| {name} | {w.seconds:.0f} s | **{w.scm_calls}** | **{w.api_writes}** "
            f"| {100 * w.cpu_seconds / w.seconds:.2f}% | {w.rss_mib:.0f} MiB "
            f"| {w.peak_rss_mib:.0f} MiB | {w.load} |\n"
        )

    steady = (
        f"{restart.steady_after:.0f} s"
        if restart.steady_after is not None
        else f"not within {restart.seconds:.0f} s"
    )
    return (
        f"{count} certificates issued in {issued.seconds:.0f} s ({count / issued.seconds:.1f}/s), "
        f"create-to-Ready p50 {issued.p50:.0f} s ({issued.p50 / issued.seconds:.2f} of the "
        f"issuance time), operator peak RSS (VmHWM) {issued.peak_rss_mib:.0f} MiB during "
        f"issuance and {issued.rss_settled_mib:.0f} MiB once settled (load average "
        f"{issued.load} at the end of issuance), {issued.scm_calls / count:.2f} SCM calls and "
        f"{issued.api_writes / count:.2f} API writes per certificate (Events included, the "
        f"benchmark's creates not); after a restart the operator was steady "
        f"(under 5% of a core for 5 s) after {steady}. Then:\n\n"
        "| window | length | SCM calls | API writes | operator CPU (of one core) | operator RSS "
        "| its peak (VmHWM) | load average (1/5/15 min) |\n|---|---|---|---|---|---|---|---|\n"
        + line("idle, nothing due", idle)
        + line("after an operator restart", restart)
    )


def write_docs(text: str, command: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text()
    start, end = "<!-- bench_idle:start -->", "<!-- bench_idle:end -->"
    block = f"{start}\nCommand: `{command}` ({time.strftime('%Y-%m-%d')}).\n\n{text}{end}"
    if start in doc:
        doc = re.sub(re.escape(start) + ".*?" + re.escape(end), block, doc, flags=re.S)
    else:
        doc += "\n## Idle fleet\n\n" + block + "\n"
    path.write_text(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=300)
    parser.add_argument("--restart-window", type=float, default=60)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    keep = os.environ.get("BENCH_KEEP")  # a directory: keep the logs (operator.log) there
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        workdir = Path(keep) if keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        issued, idle, restart = run(args.count, args.idle, args.restart_window, workdir)
    text = table(args.count, issued, idle, restart)
    sys.stdout.write(text)
    if args.write_docs:
        write_docs(text, ("python bench/bench_idle.py " + " ".join(sys.argv[1:])).strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
