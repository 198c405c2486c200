"""Where the whole machine's CPU goes during an issuance burst, by process and thread kind.

Runs ``bench_issuance.py`` (RSA by default) and, once the burst has started, samples every CPU
with ``perf record -a`` (Linux perf, run as root or with ``kernel.perf_event_paranoid`` <= 0)
for a window inside the burst. It then splits the samples by process (the operator, the
kube-apiserver, etcd, the sandbox SCM, the benchmark's driver, idle) and, inside the operator,
by thread (the event loop or the worker threads) and by what was running: cryptography's
compiled code (its Rust and OpenSSL: key generation, signing, parsing), the kernel, or Python and
its other extensions. Each share is also given in milliseconds per certificate, from the burst's
own rate: two cores / certificates per second is the machine's CPU per certificate.

Unlike py-spy, whose samples are taken by the wall clock, perf samples CPU cycles: a thread that
is preempted (after waking the API server with a write, say) is not counted.

Run: ``python bench/machine_profile.py [--count 400] [--key rsa|ecdsa] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
SAMPLE = re.compile(r"\s*(\d+)/(\d+)\s+\S+\s+\((.*)\)")


def _operator_pid(bench: int) -> int:
    """The operator the benchmark started (its child)."""
    found = subprocess.run(
        ["pgrep", "-P", str(bench), "-f", "sectigo_operator.cli run"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not found:
        raise SystemExit("no operator process found")
    return int(found[0])


def _names(pids: set[str]) -> dict[str, str]:
    names = {}
    for pid in pids:
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "kube-apiserver" in args:
            names[pid] = "kube-apiserver"
        elif "/etcd" in args:
            names[pid] = "etcd"
        elif "sandbox" in args:
            names[pid] = "sandbox SCM"
        elif "bench_issuance" in args:
            names[pid] = "benchmark driver"
    return names


def split(script: str, operator: int) -> tuple[collections.Counter[str], int, set[str]]:
    counts: collections.Counter[str] = collections.Counter()
    total, pids = 0, set()
    for line in script.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        pid, tid, dso = match.groups()
        total += 1
        if pid == "0":
            counts["idle"] += 1
        elif int(pid) == operator:
            thread = "event loop" if int(tid) == operator else "worker threads"
            name = dso.rsplit("/", 1)[-1]
            if "_rust" in name or "libcrypto" in name:
                kind = "cryptography (Rust, OpenSSL)"
            elif "kernel" in name:
                kind = "kernel"
            else:
                kind = "Python and other extensions"
            counts[f"operator, {thread}: {kind}"] += 1
        else:
            counts[pid] += 1
            pids.add(pid)
    return counts, total, pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--key", choices=["rsa", "ecdsa"], default="rsa")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which("perf") is None:
        raise SystemExit("perf is not installed (Debian: linux-perf)")
    with tempfile.TemporaryDirectory(prefix="machine-profile-") as tmp:
        burst = [str(HERE / "bench_issuance.py"), "--count", str(args.count), "--key", args.key]
        bench = subprocess.Popen(
            [sys.executable, *burst],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert bench.stdout is not None and bench.stderr is not None
        lines: list[str] = []
        started = threading.Event()

        def read(stream: IO[str] = bench.stderr) -> None:
            for line in stream:
                lines.append(line)
                if "burst started" in line:
                    started.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            if not started.wait(300):
                sys.stderr.write("".join(lines[-30:]))
                raise SystemExit("the burst did not start")
            operator = _operator_pid(bench.pid)
            data = Path(tmp) / "perf.data"
            window = ["sleep", str(args.seconds)]
            subprocess.run(
                ["perf", "record", "-a", "-F", "499", "-o", str(data), "--", *window],
                capture_output=True,
                check=True,
            )
            script = subprocess.run(
                ["perf", "script", "-i", str(data), "-F", "pid,tid,ip,dso"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            counts, total, pids = split(script, operator)
            names = _names(pids | {str(bench.pid)})
            out = bench.stdout.read()
            bench.wait(600)
        finally:
            if bench.poll() is None:  # failed here: the benchmark stops its control plane
                bench.send_signal(signal.SIGINT)
                bench.wait(60)
        reader.join(60)
        err = "".join(lines)
    rate = re.search(r"\| \*\*([\d.]+)\*\* \|", out)
    if bench.returncode != 0 or rate is None or total == 0:
        sys.stderr.write(err[-3000:])
        raise SystemExit("the burst failed")
    cores = os.cpu_count() or 1
    per_cert = 1000.0 * cores / float(rate.group(1))  # the machine's CPU per certificate
    sys.stdout.write(out.splitlines()[-1] + "\n")
    for line in err.splitlines():
        if "machine in the burst" in line or "operator CPU" in line:
            sys.stdout.write(line + "\n")
    sys.stdout.write(
        f"\n{total} samples in {args.seconds:.0f} s on all cores; the machine spends "
        f"{per_cert:.1f} ms per certificate ({cores} cores / {rate.group(1)} per second)\n\n"
        "| where | share of the machine | ms per certificate |\n|---|---|---|\n"
    )
    merged: collections.Counter[str] = collections.Counter()
    for key, n in counts.items():
        merged[names.get(key, key if not key.isdigit() else "other processes")] += n
    for key, n in merged.most_common():
        sys.stdout.write(f"| {key} | {100 * n / total:.1f} % | {per_cert * n / total:.1f} |\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
