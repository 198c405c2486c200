"""Running the operator process: logging, the HTTP endpoints, leader election, then Kopf.

``sectigo-operator run`` (``cli``) parses the options into :class:`RunOptions` and calls
:func:`run`. The order matters:

1. logging is configured (Kopf's plain, full or JSON format);
2. ``/healthz``, ``/readyz`` and ``/metrics`` start listening (a standby answers too);
3. with ``--leader-elect``, the process waits for the Lease (``leadership``);
4. Kopf runs our handlers (``sectigo_operator.handlers``) while the Lease is renewed; when it is
   lost, Kopf is stopped and the process exits with status 1 (its Deployment starts it again,
   as a standby). The SCM-call guard (``Context.leading``) already refuses from that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from dataclasses import dataclass, field
from typing import Literal

import kopf

from . import metrics, serving
from .leadership import Elector, LeaseTiming

logger = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 10.0
LogFormat = Literal["plain", "full", "json"]


@dataclass(frozen=True)
class LeaderElection:
    namespace: str
    name: str = "sectigo-operator"
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}_{os.getpid()}")
    timing: LeaseTiming = field(default_factory=LeaseTiming)


@dataclass(frozen=True)
class RunOptions:
    namespaces: tuple[str, ...] = ()
    """Watch only these namespaces (empty: all)."""
    verbose: bool = False
    log_format: LogFormat = "full"
    http_address: str | None = None
    """``host:port`` of /healthz, /readyz and /metrics (None: not served)."""
    leader_election: LeaderElection | None = None


class RoutineLines(logging.Filter):
    """Kopf's bookkeeping of a handler that succeeded: "Handler 'certificate-create'
    succeeded." and "Creation is processed: 1 succeeded; 0 failed." for every object it hands
    over (two lines per certificate created, 20,000 on the restart of a 10,000-certificate fleet).
    The handlers only hand the object to the operator's scheduler; what happened to it is in its
    status and Events. Shown with ``--verbose``; failures and retries always are."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Handler '") and message.endswith("' succeeded."):
            return False
        return not message.endswith(" is processed: 1 succeeded; 0 failed.")


def configure_logging(verbose: bool, log_format: LogFormat) -> None:
    formats = {
        "plain": kopf.LogFormat.PLAIN,
        "full": kopf.LogFormat.FULL,
        "json": kopf.LogFormat.JSON,
    }
    kopf.configure(verbose=verbose, debug=verbose, log_format=formats[log_format])
    if not verbose:
        # httpx logs every request at INFO (two per issuance); SCM errors are logged by the
        # operator with SCM's code and description, and reach status and Events.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("kopf.objects").addFilter(RoutineLines())


def run(options: RunOptions) -> int:
    """Run until stopped; the process's exit status."""
    configure_logging(options.verbose, options.log_format)
    import sectigo_operator.handlers  # noqa: F401  (registers the handlers with Kopf)

    tune_garbage_collector()
    return asyncio.run(_main(options))


def tune_garbage_collector() -> None:
    """Move what start-up built (modules, the handler registry, pydantic's schemas) out of the
    collector's reach (:func:`gc.freeze`), so that full collections no longer walk it.

    The thresholds stay Python's (700, 10, 10). Raising the young one to 10,000 halved the
    collector's CPU in a burst (0.55 to 0.25 s for 800 certificates, ``gc.callbacks``), but the
    restart of a 10,000-certificate fleet then peaked at 255 and 270 MiB instead of 253, against
    a target of 264 (docs/benchmarks.md, 2026-12-05), likely because garbage cycles left by the
    processing of the start-up listing then hold object bodies for longer."""
    gc.collect()
    gc.freeze()


async def _main(options: RunOptions) -> int:
    health = serving.Health()
    server = await serving.start(options.http_address, health) if options.http_address else None
    elector: Elector | None = None
    try:
        if options.leader_election is not None:
            elector = await _elector(options.leader_election)
            health.role = "standby"
            await elector.acquire()
            health.leading = elector.held
        health.role = "leader"
        metrics.LEADER.set(1)
        return await _operate(options, health, elector)
    finally:
        metrics.LEADER.set(0)
        health.role = "stopping"
        if elector is not None:
            await elector.release()
        if server is not None:
            await server.cleanup()


async def _elector(election: LeaderElection) -> Elector:
    from .k8s import Kube

    kube = await asyncio.to_thread(Kube, 4)
    return Elector(kube, election.namespace, election.name, election.identity, election.timing)


async def _operate(options: RunOptions, health: serving.Health, elector: Elector | None) -> int:
    # No stop flag: Kopf would leave a task waiting on it at every stop (5 s of "hung tasks").
    # A lost Lease stops Kopf the way SIGTERM does, through its own signal handler.
    memo = kopf.Memo(
        health=health,
        leading=elector.held if elector else (lambda: True),
        namespaces=tuple(options.namespaces),
    )
    operator = asyncio.create_task(
        kopf.operator(
            standalone=True,
            clusterwide=not options.namespaces,
            namespaces=list(options.namespaces),
            memo=memo,
        ),
        name="kopf",
    )
    if elector is None:
        await operator
        return 0
    keeper = asyncio.create_task(elector.keep(), name="leader-lease")
    done, _ = await asyncio.wait({operator, keeper}, return_when=asyncio.FIRST_COMPLETED)
    if operator in done:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        operator.result()
        return 0
    logger.error("leadership lost: stopping (a standby takes over)")
    health.role = "stopping"
    signal.raise_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(operator, STOP_GRACE_SECONDS)
    except (TimeoutError, asyncio.CancelledError):
        logger.warning("Kopf did not stop within %.0fs", STOP_GRACE_SECONDS)
    return 1
