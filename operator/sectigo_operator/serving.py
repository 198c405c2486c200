"""The operator's HTTP endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` on one port.

- ``/healthz`` (liveness): the event loop answers, and a leader still holds its Lease. A hung
  loop does not answer at all, and the kubelet restarts the container.
- ``/readyz`` (readiness): the handlers have started (``Health.started``), or the process is a
  standby waiting for the Lease (a standby is ready: it is what a rolling update waits for).
- ``/metrics``: ``sectigo_operator.metrics.REGISTRY`` in the Prometheus text format.

aiohttp comes with Kopf. Nothing here reads a Secret or logs a request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import metrics


def _yes() -> bool:
    return True


@dataclass
class Health:
    """What the probes report; set by the runner and the start-up handler."""

    role: str = "starting"
    """``starting``, ``standby`` (waiting for the Lease), ``leader`` or ``stopping``."""
    started: bool = False
    """The handlers' start-up finished (the operator serves its resources)."""
    leading: Callable[[], bool] = field(default=_yes)

    def live(self) -> bool:
        return self.role != "leader" or self.leading()

    def ready(self) -> bool:
        return self.role == "standby" or (self.role == "leader" and self.started)

    def describe(self) -> dict[str, object]:
        return {"role": self.role, "started": self.started, "leading": self.leading()}


def app(health: Health) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return _answer(health.live(), health)

    async def readyz(_: web.Request) -> web.Response:
        return _answer(health.ready(), health)

    async def scrape(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    application = web.Application()
    application.router.add_get("/healthz", healthz)
    application.router.add_get("/readyz", readyz)
    application.router.add_get("/metrics", scrape)
    return application


def _answer(ok: bool, health: Health) -> web.Response:
    return web.Response(
        status=200 if ok else 503,
        text=json.dumps({"ok": ok, **health.describe()}),
        content_type="application/json",
    )


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8080`` for IPv6) -> (host, port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


async def start(address: str, health: Health) -> web.AppRunner:
    """Serve the endpoints on ``address``; the caller cleans the runner up."""
    host, port = split_address(address)
    runner = web.AppRunner(app(health), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
