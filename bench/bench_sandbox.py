"""Benchmark of the sandbox SCM: enroll + collect pairs per second, server pinned to one core.

Starts the sandbox in a child process (fresh state directory, default config: auto-approved
profile 51, immediate issuance), pins it to one CPU, and drives it from this process over HTTP with
keep-alive connections: N pairs of ``POST /api/ssl/v1/enroll`` + ``GET /collect/{id}?format=x509``
(each pair signs one certificate). Reports wall-clock pairs/s with 1 and 4 client threads, and the
server's own CPU time per pair (``/proc/<pid>/stat``), i.e. the pairs one server core can issue per
CPU-second regardless of the client's cost. CSRs are made before timing.

Run: ``python bench/bench_sandbox.py [N]`` (default N=1000).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HEADERS = {"login": "admin", "password": "sandbox-password", "customerUri": "sandbox"}


def make_csrs(n: int, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> list[str]:
    csrs = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"host{i}.bench.example.com")])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        csrs.append(csr.public_bytes(serialization.Encoding.PEM).decode())
    return csrs


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    ready = state / "ready"
    opts = {"port": 0, "state_dir": str(state / "scm"), "ready_file": str(ready)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sectigo_operator.sandbox.launcher", json.dumps(opts)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not (ready.exists() and ready.read_text().strip()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.05)
    os.sched_setaffinity(proc.pid, {min(os.sched_getaffinity(0))})
    return proc, ready.read_text().strip()


def pair(client: httpx.Client, csr: str) -> None:
    body = {"orgId": 1234, "certType": 51, "term": 365, "csr": csr, "comments": "bench"}
    ssl_id = client.post("/api/ssl/v1/enroll", json=body).json()["sslId"]
    response = client.get(f"/api/ssl/v1/collect/{ssl_id}", params={"format": "x509"})
    if response.status_code != 200:
        raise RuntimeError(response.text)


def run(url: str, pid: int, csrs: list[str], threads: int) -> tuple[float, float]:
    """(wall-clock pairs/s, server CPU ms per pair)."""
    chunks = [csrs[i::threads] for i in range(threads)]

    def worker(chunk: list[str]) -> None:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
            for csr in chunk:
                pair(client, csr)

    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, chunks))
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    return len(csrs) / wall, cpu * 1000 / len(csrs)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    keys = {
        "EC P-256": ec.generate_private_key(ec.SECP256R1()),
        "RSA 2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp))
        try:
            run(url, proc.pid, make_csrs(50, keys["EC P-256"]), 1)  # warm-up
            for label, key in keys.items():
                csrs = make_csrs(n, key)
                for threads in (1, 4):
                    rate, cpu_ms = run(url, proc.pid, csrs, threads)
                    print(
                        f"{label:9} clients={threads}: {rate:7.1f} pairs/s wall, "
                        f"server {cpu_ms:5.2f} ms CPU/pair = {1000 / cpu_ms:6.1f} pairs per "
                        f"server CPU-second"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
