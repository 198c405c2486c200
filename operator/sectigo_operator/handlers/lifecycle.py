"""Operator start-up and shutdown: Kopf settings, the shared context, clean-up.

Kopf's own bookkeeping (handler progress, last-handled configuration) goes into annotations with
our prefix, never into the user's status. Kopf's log lines never become Events (each pending
collect would post one); the handlers post their own Events with ``kopf.event``. The Kubernetes
client and key generation run in a thread pool sized by ``OperatorSettings.worker_threads``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, cast

import kopf

from ..certificates import Context
from ..certificates.scheduler import Scheduler
from ..certificates.status import ensure_leading
from ..configs import ConfigRegistry
from ..k8s import Kube
from ..settings import PREFIX, OperatorSettings
from . import certificate, secret


def utcnow() -> datetime:
    return datetime.now(UTC)


class ObservedGenerationDiffBase(kopf.AnnotationsDiffBaseStorage):
    """Kopf's "last handled" state of a SectigoCertificate, read from its own status instead of
    an annotation Kopf writes after every handling (one API write per certificate saved).

    A certificate whose ``status.observedGeneration`` equals ``metadata.generation`` has been
    handled as it is; otherwise Kopf sees a creation, and runs ``on_change`` (which handles
    create, update and resume alike, level-based). Every status write of a step sets
    ``observedGeneration``. Other kinds keep Kopf's annotation.
    """

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        if body.get("kind") != "SectigoCertificate":
            return super().fetch(body=body)
        observed = (body.get("status") or {}).get("observedGeneration")
        handled = observed is not None and observed == body.get("metadata", {}).get("generation")
        return self.build(body=body) if handled else None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        if body.get("kind") != "SectigoCertificate":
            super().store(body=body, patch=patch, essence=essence)

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        """Kopf deep-copies the whole body (status and managed fields included) and then keeps
        only spec, labels, annotations and the handlers' fields; it does so twice per watch
        event of a certificate. The same essence from only the parts it is made of."""
        if body.get("kind") == "SectigoCertificate":
            body = kopf.Body(_essential_parts(body, extra_fields or ()))
        return super().build(body=body, extra_fields=extra_fields)


def _essential_parts(body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec]) -> kopf.RawBody:
    """``body`` without what ``DiffBaseStorage.build`` throws away: of the top-level stanzas
    only spec and those of the handlers' fields; of metadata, what it keeps (labels,
    annotations) and what its annotation keys are formed from (ownerReferences), unless a
    handler's field is in metadata."""
    tops = {"apiVersion", "kind", "spec"}
    for path in extra_fields:
        if path:
            tops.add(path.split(".", 1)[0] if isinstance(path, str) else path[0])
    parts: dict[str, Any] = {k: v for k, v in body.items() if k in tops}
    meta = body.get("metadata") or {}
    if "metadata" not in tops:
        keep = ("labels", "annotations", "ownerReferences")
        meta = {k: v for k, v in meta.items() if k in keep}
    parts["metadata"] = meta
    return cast(kopf.RawBody, parts)


class UnmarkedProgressStorage(kopf.AnnotationsProgressStorage):
    """Kopf's handler progress in annotations, without the ``<prefix>/kopf-managed: yes`` marker
    on SectigoCertificates: Kopf adds it in a patch of its own after the first handling (one
    more API write per certificate), only so that other Kopf operators can tell our annotations
    from theirs in *their* diff bases. Certificates use ``ObservedGenerationDiffBase``, which
    never compares annotations. (Overrides a private Kopf method; tests/e2e and ``make bench``
    show the write count.)"""

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        if body.get("kind") != "SectigoCertificate":
            super()._store_marker(prefix, patch, body)


class QuietRetries(logging.Filter):
    """Kopf logs every ``TemporaryError`` at ERROR; ours are routine waits (a pending collect,
    a config not Ready yet) whose state is in the status: log them at INFO so that alerting on
    ERROR lines only sees real failures."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "failed temporarily" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def tune(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """Kopf's settings for this operator."""
    settings.persistence.progress_storage = UnmarkedProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = ObservedGenerationDiffBase(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # Our Events are posted explicitly (kopf.event); Kopf's own log lines (e.g. every
    # "failed temporarily" of a pending collect) must not become Events.
    settings.posting.level = logging.CRITICAL
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # A start lists the fleet in pages instead of one response holding every certificate (and
    # every managed Secret, keys included) at once.
    settings.watching.chunk_size = ours.list_chunk_size or None
    settings.queueing.error_delays = [1, 2, 5, 10, 30, 60]
    # The CRDs are installed before the operator (deploy/); no permission to watch CRDs or
    # namespaces is needed (least privilege): namespaces given are taken as exact names.
    settings.scanning.disabled = True


@kopf.on.startup(id="startup")
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    ours = OperatorSettings.from_env()
    logging.getLogger("kopf.objects").addFilter(QuietRetries())
    tune(settings, ours)
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(ours.worker_threads, thread_name_prefix="sectigo-io")
    )
    kube = await asyncio.to_thread(Kube, ours.worker_threads)

    async def wake(namespace: str, name: str) -> None:
        await certificate.wake(context, namespace, name)

    scheduler = Scheduler(wake, concurrency=ours.wake_concurrency, clock=utcnow)
    context = Context(
        kube=kube,
        configs=ConfigRegistry(),
        settings=ours,
        now=utcnow,
        wake=scheduler.wake,
        leading=getattr(memo, "leading", None) or (lambda: True),
    )
    # Checked again inside the SCM client, after a request waited for a connection slot.
    context.configs.guard = functools.partial(ensure_leading, context)
    memo.secret_watch = await secret.prefill(
        context, kube, getattr(memo, "namespaces", ()), ours.list_chunk_size or 500
    )
    memo.context = context
    memo.kube = kube
    memo.scheduler = scheduler
    health = getattr(memo, "health", None)
    if health is not None:
        health.started = True


@kopf.on.cleanup(id="cleanup")
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    watch: secret.SecretWatch | None = getattr(memo, "secret_watch", None)
    if watch is not None:
        watch.stop()
    scheduler: Scheduler | None = getattr(memo, "scheduler", None)
    if scheduler is not None:
        await scheduler.close()
    context: Context | None = getattr(memo, "context", None)
    if context is not None:
        await context.configs.close()
    kube: Kube | None = getattr(memo, "kube", None)
    if kube is not None:
        await kube.close()


@kopf.on.probe(id="configs")
def probe_configs(memo: kopf.Memo, **_: Any) -> int:
    """Liveness/readiness detail: how many configs are known."""
    context: Context | None = getattr(memo, "context", None)
    return 0 if context is None else len(context.configs)
