"""Handlers of SectigoCertificate: one reconcile for create, update, resume and wake-ups.

The work is in ``sectigo_operator.certificates``; this module only runs it and turns its
outcome into the next wake-up: ``RetryLater`` -> the scheduler looks again after its delay,
``Stalled`` -> nothing more (status explains it; a spec change starts a new attempt), a
Kubernetes API error -> a backed-off retry, a 409 from the fence -> a fresh look in a second.

``wake`` is the scheduler's callback (renewal due, managed Secret changed, a retry): it runs the
same step outside Kopf, under the same per-certificate lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import kopf

from .. import metrics
from ..certificates import Context, RetryLater, Stalled, reconcile
from ..certificates.gather import pending_key_secret_name
from ..certificates.reconcile import resume_settled
from ..k8s import KubeConflict, KubeError
from ..models import GROUP, VERSION
from ..settings import FINALIZER

PLURAL = "sectigocertificates"
REASON_KUBE_ERROR = "KubernetesApiError"
REASON_UNEXPECTED = "UnexpectedError"
CONFLICT_RETRY = 1.0
"""Seconds before a step refused by the fence (409) looks again."""
UNEXPECTED_RETRY = 60.0
"""Seconds before a step that failed unexpectedly is tried again."""
HELD_BODIES = 1024
"""At most this many certificates waiting for a step slot keep the body Kopf delivered (a few KiB
each), so their step need not read the object again; beyond it, the step reads it."""
logger = logging.getLogger(__name__)
_locks: dict[tuple[str, str], asyncio.Lock] = {}


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


def _current(ctx: Context, key: tuple[str, str], body: Mapping[str, Any] | None) -> bool:
    """Whether ``body`` is the certificate as this process last read or wrote it (or the first
    body seen of it): any other version may be a stale watch event from before our own writes,
    and acting on it would redo work (its fenced status write fails, but a pending key it made
    would be left behind)."""
    if body is None:
        return False
    seen = ctx.versions.get(key)
    return seen is None or seen == (body.get("metadata") or {}).get("resourceVersion")


async def _step(
    ctx: Context, namespace: str, name: str, body: Mapping[str, Any] | None, retry: int
) -> None:
    """One step under the certificate's lock, on the newest body this process knows of."""
    key = (namespace, name)
    lock = _lock(namespace, name)
    try:
        # The certificate's lock first, then a slot: a step never waits for a lock while it
        # holds a slot (no deadlock), and steps get slots in the order they asked (FIFO).
        async with lock, _slots(ctx.settings.step_concurrency):
            ctx.changed.discard(key)  # this step reads the newest body delivered
            held = ctx.held.pop(key, None)
            body = held if body is None else body
            if body is None or not _current(ctx, key, body):
                body = await ctx.kube.get_object(PLURAL, namespace, name)
                if body is None:
                    return
            first = key not in ctx.versions
            ctx.versions[key] = (body.get("metadata") or {}).get("resourceVersion") or ""
            await reconcile(ctx, body, _emitter(body), retry, first=first)
    finally:
        _release(namespace, name, lock)


@kopf.on.resume(GROUP, VERSION, PLURAL, id="certificate-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="certificate-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="certificate-update", field="spec")
async def on_change(body: kopf.Body, memo: kopf.Memo, reason: str, **_: Any) -> None:
    ctx: Context = memo.context
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    key = (namespace, name)
    ctx.uids[key] = body.metadata.uid or ""
    if reason == kopf.Reason.RESUME and ctx.secrets_known(namespace):
        # A restart: a settled certificate is judged from what the operator knows of its
        # Secret without reading it: no read, no parse, no slot.
        secret = ctx.secrets.get((namespace, str(body.spec.get("secretName") or "")))
        pending = (namespace, pending_key_secret_name(name)) in ctx.secrets
        if resume_settled(ctx, body, secret, pending):
            logger.debug("certificate %s/%s is settled: judged without reading", namespace, name)
            return
    if _slots(ctx.settings.step_concurrency).locked():
        # Every slot is taken or promised: wait as a scheduler entry (a few bytes, in arrival
        # order) rather than as a Kopf handler holding the object's body; the step reads the
        # object when its turn comes. A burst of 10,000 keeps memory flat this way.
        _hold(ctx, key, body)
        ctx.changed.add(key)
        ctx.wake(namespace, name, ctx.now())
        return
    try:
        await run(ctx, namespace, name, body)
    except Exception:
        # Kopf logs it; the scheduler looks again (Kopf's own retry is not guaranteed, below).
        metrics.reconcile_error(REASON_UNEXPECTED)
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=UNEXPECTED_RETRY))
        raise


def _hold(ctx: Context, key: tuple[str, str], body: kopf.Body) -> None:
    """Keep the body of a waiting certificate (without managed fields) for its step, so that
    the step need not read it: only for a new certificate (no status) whose first write is
    fenced or owned by it (no import), and for at most HELD_BODIES certificates. Any other body
    drops what was held: the step reads the object."""
    if body.get("status") or body.spec.get("import") is not None:
        ctx.held.pop(key, None)
    elif key in ctx.held or len(ctx.held) < HELD_BODIES:
        meta = {k: v for k, v in body.metadata.items() if k != "managedFields"}
        ctx.held[key] = {**body, "metadata": meta}


def _being_deleted(body: kopf.Body, **_: Any) -> bool:
    meta = body.get("metadata", {})
    return bool(meta.get("deletionTimestamp")) and FINALIZER in (meta.get("finalizers") or [])


def _leaving(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> bool:
    return event.get("type") == "DELETED" or _being_deleted(body)


@kopf.on.event(GROUP, VERSION, PLURAL, id="certificate-deletion", when=_leaving)
def on_deletion(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A certificate with a deletion policy is being deleted: run it (Kopf runs no update
    handler for an object being deleted; the finalizer is ours, not Kopf's). A certificate that
    left the cluster is forgotten (``_forget``)."""
    ctx: Context = memo.context
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    if event.get("type") == "DELETED":
        _forget(ctx, namespace, name, body.metadata.uid or "")
        return
    ctx.held.pop((namespace, name), None)  # from before the deletion: the step reads it
    ctx.wake(namespace, name, ctx.now())


def _forget(ctx: Context, namespace: str, name: str, uid: str) -> None:
    """Forget a certificate that left the cluster: its wake-up, what this process knew of it
    and its metrics series. A Kopf ``on.delete`` handler would not do: without Kopf's own
    finalizer Kopf runs none for an object that is already gone. Kopf handles each object in a
    worker of its own, so the deletion of an old certificate can be handled after the creation
    of a new one of the same name: then only the old one's held body goes."""
    key = (namespace, name)
    held = ctx.held.get(key)
    if held is not None and (held.get("metadata") or {}).get("uid") == uid:
        del ctx.held[key]
    if ctx.uids.get(key, uid) != uid:
        return  # the name belongs to a newer certificate
    ctx.uids.pop(key, None)
    ctx.changed.discard(key)
    ctx.wake(namespace, name, None)
    ctx.versions.pop(key, None)
    ctx.retries.pop(key, None)
    ctx.orders.pop(key, None)
    metrics.forget_certificate(namespace, name)


async def wake(ctx: Context, namespace: str, name: str) -> None:
    """The scheduler's callback: one step for a certificate that is due."""
    await run(ctx, namespace, name, None)


async def run(ctx: Context, namespace: str, name: str, body: Mapping[str, Any] | None) -> None:
    """One step, then file the certificate again when the step asks to be retried.

    Every retry goes through the scheduler, none through Kopf's TemporaryError: Kopf retries a
    handler only while the object looks unhandled to it, and a step's status write (which sets
    ``observedGeneration``) makes it look handled, so after the first success Kopf would drop
    the retry of a pending collect or of a write refused by the fence (409). This also saves
    Kopf's progress-annotation write on every retry.
    """
    key = (namespace, name)
    retries = ctx.retries
    try:
        await _step(ctx, namespace, name, body, retries.get(key, 0))
        retries.pop(key, None)
    except RetryLater as exc:
        retries[key] = retries.get(key, 0) + 1
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=exc.delay))
    except Stalled as exc:  # status says why; a spec change starts a new attempt
        retries.pop(key, None)
        logger.info("certificate %s/%s stalled: %s", namespace, name, exc)
    except KubeConflict as exc:  # changed meanwhile (the fence): look again, on a fresh read
        logger.info("certificate %s/%s: %s; looking again", namespace, name, exc)
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=CONFLICT_RETRY))
    except KubeError as exc:
        metrics.reconcile_error(REASON_KUBE_ERROR)
        retries[key] = retries.get(key, 0) + 1
        delay = min(300.0, 2.0 ** min(retries[key], 8))
        logger.warning("certificate %s/%s: %s; retrying in %.0fs", namespace, name, exc, delay)
        ctx.wake(namespace, name, ctx.now() + timedelta(seconds=delay))
    if key in ctx.changed:
        # Kopf delivered a change while this step ran on an older body, and the step filed the
        # certificate for later (its renewal, a retry): look at the change now instead.
        ctx.wake(namespace, name, ctx.now())
