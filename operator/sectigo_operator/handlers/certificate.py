"""Handlers of SectigoCertificate: one reconcile for create, update, resume and wake-ups.

The work is in ``sectigo_operator.certificates``; this module only runs it and translates its
outcome: ``RetryLater`` -> ``kopf.TemporaryError(delay=...)`` (Kopf wakes the object up again
then, with no worker blocked), ``Stalled`` -> ``kopf.PermanentError`` (status already explains
it; a spec change starts a new attempt), a Kubernetes API error -> a short TemporaryError.

``wake`` is the scheduler's callback (renewal due, managed Secret changed): it runs the same step
outside Kopf, under the same per-certificate lock, and files the certificate again when the step
asks to retry.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import kopf

from .. import metrics
from ..certificates import Context, RetryLater, Stalled, reconcile
from ..k8s import KubeConflict, KubeError
from ..models import GROUP, VERSION
from ..settings import FINALIZER

PLURAL = "sectigocertificates"
REASON_KUBE_ERROR = "KubernetesApiError"
logger = logging.getLogger(__name__)
_locks: dict[tuple[str, str], asyncio.Lock] = {}
_woken: set[tuple[str, str]] = set()
"""Certificates a wake-up step ran for since Kopf last handled them: Kopf's body may predate
what that step wrote, so Kopf's next step reads the object again."""


_semaphore: asyncio.Semaphore | None = None


def _slots(size: int) -> asyncio.Semaphore:
    """The operator-wide bound on concurrent certificate steps (created on first use, in the
    running loop)."""
    global _semaphore
    if _semaphore is None:
        _semaphore = asyncio.Semaphore(size)
    return _semaphore


def _lock(namespace: str, name: str) -> asyncio.Lock:
    return _locks.setdefault((namespace, name), asyncio.Lock())


def _release(namespace: str, name: str, lock: asyncio.Lock) -> None:
    if not lock.locked() and _locks.get((namespace, name)) is lock:
        del _locks[(namespace, name)]


def _emitter(body: Any) -> Any:
    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    return emit


async def _step(
    ctx: Context, namespace: str, name: str, body: Any | None, retry: int, *, woken: bool
) -> None:
    """One step under the certificate's lock, on a body read after the lock was taken."""
    key = (namespace, name)
    lock = _lock(namespace, name)
    try:
        # The certificate's lock first, then a slot: a step never waits for a lock while it
        # holds a slot (no deadlock), and steps get slots in the order they asked (FIFO).
        async with lock, _slots(ctx.settings.step_concurrency):
            if body is None or key in _woken:
                body = await ctx.kube.get_object(PLURAL, namespace, name)
                if body is None:
                    return
            if woken:
                _woken.add(key)
            else:
                _woken.discard(key)
            await reconcile(ctx, body, _emitter(body), retry)
    finally:
        _release(namespace, name, lock)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="certificate-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="certificate-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="certificate-update", field="spec")
async def on_change(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    ctx: Context = memo.context
    try:
        namespace, name = body.metadata.namespace or "", body.metadata.name or ""
        await _step(ctx, namespace, name, body, retry, woken=False)
    except RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from None
    except Stalled as exc:
        raise kopf.PermanentError(str(exc)) from None
    except KubeConflict as exc:  # changed meanwhile (the fence): look again at once
        raise kopf.TemporaryError(str(exc), delay=1.0) from None
    except KubeError as exc:
        metrics.reconcile_error(REASON_KUBE_ERROR)
        delay = min(300.0, 2.0 ** min(retry + 1, 8))
        raise kopf.TemporaryError(str(exc), delay=delay) from None


def _being_deleted(body: kopf.Body, **_: Any) -> bool:
    meta = body.get("metadata", {})
    return bool(meta.get("deletionTimestamp")) and FINALIZER in (meta.get("finalizers") or [])


@kopf.on.event(GROUP, VERSION, PLURAL, id="certificate-deletion", when=_being_deleted)
def on_deletion(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A certificate with a deletion policy is being deleted: run it (Kopf runs no update
    handler for an object being deleted; the finalizer is ours, not Kopf's)."""
    ctx: Context = memo.context
    ctx.wake(body.metadata.namespace or "", body.metadata.name or "", ctx.now())


@kopf.on.delete(GROUP, VERSION, PLURAL, id="certificate-forget", optional=True)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Forget a deleted certificate's wake-up (no finalizer: deletion never waits for us)."""
    ctx: Context = memo.context
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    ctx.wake(namespace, name, None)
    _woken.discard((namespace, name))
    metrics.forget_certificate(namespace, name)


async def wake(
    ctx: Context, namespace: str, name: str, retries: dict[tuple[str, str], int]
) -> None:
    """The scheduler's callback: one step for a certificate that is due."""
    key = (namespace, name)
    try:
        await _step(ctx, namespace, name, None, retries.get(key, 0), woken=True)
        retries.pop(key, None)
    except RetryLater as exc:
        retries[key] = retries.get(key, 0) + 1
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=exc.delay))
    except Stalled:
        retries.pop(key, None)
    except KubeError as exc:
        metrics.reconcile_error(REASON_KUBE_ERROR)
        retries[key] = retries.get(key, 0) + 1
        delay = min(300.0, 2.0 ** min(retries[key], 8))
        logger.warning("certificate %s/%s: %s; retrying in %.0fs", namespace, name, exc, delay)
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=delay))
