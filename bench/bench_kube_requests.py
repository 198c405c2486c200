"""What one Kubernetes API request costs the operator's own process, by the way it is made.

On a fresh local control plane, N Secret creates (a 1.7 KB key and a 2.4 KB certificate, as an
issuance writes them) are made 16 at a time, first through ``k8s.Kube.write_secret`` as the
operator makes them now (``kube_http.LoopApi``: aiohttp on the event loop), then through the
``kubernetes`` client in a worker thread, the way every such request was made before
2026-12-05 (``ApiClient.call_api`` through ``asyncio.to_thread``, raw JSON answers). Each way runs
twice; the figure is this process's CPU (user + system) per request. Only loopback addresses
are used.

Run: ``python bench/bench_kube_requests.py [--count N]``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import itertools
import os
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes

from sectigo_operator import controlplane
from sectigo_operator.k8s import Kube

CONCURRENCY = 16


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def material() -> dict[str, bytes]:
    return {"tls.key": os.urandom(1700), "tls.crt": os.urandom(2400)}


async def measure(label: str, count: int, create: Callable[[int], Awaitable[None]]) -> None:
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with slots:
            await create(i)

    for round_ in (1, 2):
        before, started = cpu_seconds(), time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        per_request = 1000 * (cpu_seconds() - before) / count
        rate = count / (time.monotonic() - started)
        print(f"| {label} | {round_} | {count} | {per_request:.2f} ms | {rate:.0f}/s |")


SERIAL = itertools.count()
"""Unique Secret names across rounds."""


async def main(kubeconfig: Path, count: int) -> None:
    load = kubernetes.config.load_kube_config
    kubernetes.config.load_kube_config = functools.partial(load, config_file=str(kubeconfig))
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(CONCURRENCY))
    kube = await asyncio.to_thread(Kube, CONCURRENCY)
    labels, annotations = {"bench": "kube-requests"}, {"note": "bench"}

    async def on_loop(i: int) -> None:
        name = f"loop-{next(SERIAL)}"
        await kube.write_secret(
            "default", name, type="Opaque", data=material(), labels=labels, annotations=annotations
        )

    def blocking(i: int) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"thread-{next(SERIAL)}", "labels": labels},
            "type": "Opaque",
            "data": {k: base64.b64encode(v).decode() for k, v in material().items()},
        }
        kube.secrets.call("POST", "/api/v1/namespaces/default/secrets", None, body)

    async def in_thread(i: int) -> None:
        await asyncio.to_thread(blocking, i)

    print("| way | round | creates | CPU per request | requests/s |")
    print("|---|---|---|---|---|")
    try:
        await measure("aiohttp on the event loop (LoopApi)", count, on_loop)
        await measure("kubernetes client in a thread", count, in_thread)
    finally:
        await kube.close()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    args = parser.parse_args()
    binaries = controlplane.find_binaries() or controlplane.build_binaries()
    with tempfile.TemporaryDirectory(prefix="bench-kube-") as tmp:
        with controlplane.ControlPlane(binaries, Path(tmp) / "cp") as plane:
            asyncio.run(main(plane.kubeconfig, args.count))


if __name__ == "__main__":
    run()
