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

from ..certificates import Context, RetryLater, Stalled, reconcile
from ..k8s import KubeError
from ..models import GROUP, VERSION

PLURAL = "sectigocertificates"
logger = logging.getLogger(__name__)
_locks: dict[tuple[str, str], asyncio.Lock] = {}


def _lock(namespace: str, name: str) -> asyncio.Lock:
    return _locks.setdefault((namespace, name), asyncio.Lock())


def _release(namespace: str, name: str, lock: asyncio.Lock) -> None:
    if not lock.locked() and _locks.get((namespace, name)) is lock:
        del _locks[(namespace, name)]


def _emitter(body: Any) -> Any:
    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    return emit


async def _step(ctx: Context, body: Any, retry: int) -> None:
    namespace, name = body["metadata"].get("namespace", ""), body["metadata"]["name"]
    lock = _lock(namespace, name)
    try:
        async with lock:
            await reconcile(ctx, body, _emitter(body), retry)
    finally:
        _release(namespace, name, lock)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="certificate-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="certificate-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="certificate-update", field="spec")
async def on_change(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    ctx: Context = memo.context
    try:
        await _step(ctx, body, retry)
    except RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from None
    except Stalled as exc:
        raise kopf.PermanentError(str(exc)) from None
    except KubeError as exc:
        delay = min(300.0, 2.0 ** min(retry + 1, 8))
        raise kopf.TemporaryError(str(exc), delay=delay) from None


@kopf.on.delete(GROUP, VERSION, PLURAL, id="certificate-forget", optional=True)
async def on_delete(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Forget a deleted certificate's wake-up (no finalizer: deletion never waits for us)."""
    ctx: Context = memo.context
    ctx.wake(body.metadata.namespace or "", body.metadata.name or "", None)


async def wake(
    ctx: Context, namespace: str, name: str, retries: dict[tuple[str, str], int]
) -> None:
    """The scheduler's callback: one step for a certificate that is due."""
    key = (namespace, name)
    try:
        body = await ctx.kube.get_object(PLURAL, namespace, name)
        if body is None or body.get("metadata", {}).get("deletionTimestamp"):
            return
        await _step(ctx, body, retries.get(key, 0))
        retries.pop(key, None)
    except RetryLater as exc:
        retries[key] = retries.get(key, 0) + 1
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=exc.delay))
    except Stalled:
        retries.pop(key, None)
    except KubeError as exc:
        retries[key] = retries.get(key, 0) + 1
        delay = min(300.0, 2.0 ** min(retries[key], 8))
        logger.warning("certificate %s/%s: %s; retrying in %.0fs", namespace, name, exc, delay)
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=delay))
