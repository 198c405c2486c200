"""Micro-benchmark of sectigo_operator.pki: key generation and CSR building per key spec.

Prints milliseconds per operation (median, p95 and mean over N runs, single thread) and the
RSA-2048 keygen+CSR rate on one and two threads, so the issuance
controller's CPU budget per certificate can be estimated. Run: `python bench/bench_pki.py [N]`.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sectigo_operator import pki

SPECS = (pki.KeySpec("RSA", 2048), pki.KeySpec("ECDSA", 256))
REQUEST = pki.CsrRequest(
    common_name="bench.example.com",
    dns_names=("bench.example.com", "www.bench.example.com"),
    organizations=("Example Ltd",),
    countries=("DE",),
)


def timed(op: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """(median, p95, mean) in milliseconds of `runs` calls of `op`."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        op()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return statistics.median(samples), p95, statistics.fmean(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(
        f"{'spec':<12} {'operation':<22} {'median ms':>10} {'p95 ms':>10} {'mean ms':>10}  n={runs}"
    )
    for spec in SPECS:
        for label, op in operations(spec).items():
            median, p95, mean = timed(op, runs)
            print(f"{spec!s:<12} {label:<22} {median:>10.2f} {p95:>10.2f} {mean:>10.2f}")
    print(threads_line(runs))


def operations(spec: pki.KeySpec) -> dict[str, Callable[[], object]]:
    """The timed operations for one key spec."""
    key = pki.generate_private_key(spec)
    csr_pem = pki.build_csr(key, REQUEST)

    def keygen() -> object:
        return pki.generate_private_key(spec)

    def csr() -> object:
        return pki.build_csr(key, REQUEST)

    def keygen_and_csr() -> object:
        return pki.build_csr(pki.generate_private_key(spec), REQUEST)

    def load_and_match() -> object:
        return pki.csr_matches_key(pki.load_csr(csr_pem), key)

    return {
        "generate_private_key": keygen,
        "build_csr": csr,
        "keygen + build_csr": keygen_and_csr,
        "load_csr + matches": load_and_match,
    }


def threads_line(runs: int) -> str:
    """RSA-2048 keygen+CSR throughput on 1 vs 2 threads (does keygen release the GIL?)."""
    spec = pki.KeySpec("RSA", 2048)
    rates = []
    for workers in (1, 2):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(
                pool.map(
                    lambda _: pki.build_csr(pki.generate_private_key(spec), REQUEST), range(runs)
                )
            )
        rates.append(runs / (time.perf_counter() - start))
    return f"RSA 2048 keygen+CSR per second: 1 thread {rates[0]:.1f}, 2 threads {rates[1]:.1f}"


if __name__ == "__main__":
    main()
