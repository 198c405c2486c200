"""What one SCM request costs the operator's process: the SCM client's CPU per request with
its aiohttp transport (``scm.aiohttp_transport``, the operator's) and with httpx's own
(httpcore), against a sandbox SCM process on 127.0.0.1.

``--concurrency`` requests at a time (16, the operator's default step concurrency), after as many
connections were opened, so the pool is as full as in a burst. Each round runs both transports,
one after the other; the figure is this process's CPU (user and system) per request.

Run: ``python bench/bench_scm_requests.py [--count 3000] [--concurrency 16] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

import httpx
from bench_issuance import start_sandbox

from sectigo_operator.scm.client import ScmClient
from sectigo_operator.scm.config import ScmConnection

CONNECTIONS = 32
"""The pool's size, as the benchmarks' SectigoConfig sets it (``maxConcurrentRequests``)."""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, way: str, count: int, concurrency: int) -> tuple[float, float]:
    """(ms of CPU per request, requests per second) for one transport."""
    connection = ScmConnection(
        base_url=url,
        customer_uri="sandbox",
        login="admin",
        password="sandbox-password",
        max_concurrency=CONNECTIONS,
    )
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    transport = httpx.AsyncHTTPTransport(limits=limits) if way == "httpcore" else None
    async with ScmClient(connection, transport=transport) as scm:
        await asyncio.gather(*(scm.ssl.types() for _ in range(concurrency)))  # open the pool
        left = count

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await scm.ssl.types()

        cpu, wall = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (cpu_seconds() - cpu) / count * 1000, count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        sandbox, url = start_sandbox(Path(state))
        try:
            print("| round | transport | CPU per request | requests/s |")
            print("|---|---|---|---|")
            for round_ in range(1, args.rounds + 1):
                for way in ("aiohttp", "httpcore"):
                    ms, rate = asyncio.run(measure(url, way, args.count, args.concurrency))
                    print(f"| {round_} | {way} | {ms:.2f} ms | {rate:,.0f} |")
        finally:
            sandbox.terminate()
            sandbox.wait(30)


if __name__ == "__main__":
    main()
