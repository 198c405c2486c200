"""Managed Secrets: a deleted or edited certificate Secret wakes its certificate at once.

A pending-key Secret written by someone else (another operator process, e.g. a frozen old leader
that woke up) wakes its certificate too, which removes it once nothing is in flight: no stray
copy of a private key survives.

Only Secrets labelled as ours are handled (``app.kubernetes.io/managed-by: sectigo-operator``
with a certificate label). Event handlers keep no state on the Secret: no annotations, no
finalizer. The operator's own writes are recognised by the digest of the data it wrote and do not
wake anything.

What the operator knows of each managed Secret without reading it (``Context.secrets``: the
certificate label and the data digest, never the data) comes from one paged list at start-up
(``prefill``) and then from this watch; a restarted operator judges a settled certificate from it
(``certificates.settled``). The watch's own initial listing confirms each entry: one that
changed between the two lists wakes its certificate, and one deleted in between (never
delivered) wakes it once that listing is over (``SWEEP_QUIET`` seconds without a listed Secret).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from ..certificates import Context
from ..certificates.context import WatchedSecret, data_digest
from ..k8s import Kube, KubeError
from ..settings import LABEL_CERTIFICATE, LABEL_MANAGED_BY, LABEL_PENDING_KEY, MANAGED_BY

logger = logging.getLogger(__name__)

SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_CERTIFICATE}"
"""The label selector of managed Secrets (the start-up list)."""
SWEEP_QUIET = 10.0
"""Seconds without a Secret of the watch's initial listing after which that listing counts as
over: start-up entries it never delivered were deleted in between."""

_sweep: asyncio.Task[None] | None = None
_listing = asyncio.Event()
"""Set by every Secret of the watch's initial listing."""


def watched_secret(labels: Mapping[str, str], data: Mapping[str, bytes]) -> WatchedSecret:
    return WatchedSecret(labels.get(LABEL_CERTIFICATE, ""), data_digest(data))


async def prefill(ctx: Context, kube: Kube, namespaces: Sequence[str], page: int) -> None:
    """Fill ``ctx.secrets`` with one paged list of the managed Secrets (at start-up, before any
    handler runs). On failure it stays empty and every resumed certificate gets the full step."""
    global _sweep, _listing
    _sweep, _listing = None, asyncio.Event()  # this run's: an Event is bound to one loop
    everywhere: list[str | None] = [None]
    try:
        for namespace in namespaces or everywhere:
            async for items in kube.list_secrets(namespace, SELECTOR, page):
                for secret in items:
                    key = (secret.namespace, secret.name)
                    ctx.secrets[key] = watched_secret(secret.labels, secret.data)
                    ctx.unconfirmed.add(key)
    except KubeError as exc:
        logger.warning("listing managed Secrets failed (%s): every certificate is read", exc)
        ctx.secrets.clear()
        ctx.unconfirmed.clear()
        return
    ctx.secrets_listed = True


def ensure_sweep(ctx: Context) -> None:
    """Start the look at start-up entries the watch never delivered (from inside a Kopf
    handler: the steps it wakes post Events)."""
    global _sweep
    if _sweep is None and ctx.unconfirmed:
        _sweep = asyncio.get_running_loop().create_task(_sweep_unconfirmed(ctx))


async def _sweep_unconfirmed(ctx: Context) -> None:
    while True:  # until SWEEP_QUIET seconds pass without a listed Secret
        try:
            await asyncio.wait_for(_listing.wait(), SWEEP_QUIET)
        except TimeoutError:
            break
        _listing.clear()
    for key in list(ctx.unconfirmed):
        ctx.unconfirmed.discard(key)
        gone = ctx.secrets.pop(key, None)
        if gone is not None and gone.certificate:
            ctx.wake(key[0], gone.certificate, ctx.now())


async def stop_sweep() -> None:
    global _sweep
    if _sweep is not None:
        _sweep.cancel()
        await asyncio.gather(_sweep, return_exceptions=True)
        _sweep = None


@kopf.on.event(
    "v1",
    "secrets",
    id="managed-secret",
    labels={
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_CERTIFICATE: kopf.PRESENT,
    },
)
async def on_secret_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    kind = event.get("type")
    obj: dict[str, Any] = dict(event.get("object") or {})
    meta: dict[str, Any] = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    ctx: Context | None = getattr(memo, "context", None)
    if ctx is None:
        return
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    key = (namespace, name)
    ctx.unconfirmed.discard(key)
    if kind == "DELETED":
        ctx.secrets.pop(key, None)
        ctx.written.pop(key, None)
        if LABEL_PENDING_KEY in labels:
            return  # ours, after issuance (or noticed at collect)
    else:
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        seen = watched_secret(labels, data)
        before = ctx.secrets.get(key)
        ctx.secrets[key] = seen
        if kind is None:  # the watch's initial listing
            _listing.set()
            ensure_sweep(ctx)
            if not ctx.secrets_listed or before == seen:
                return  # every certificate is resumed anyway
            # changed between the start-up list and this one: a judgement may be stale
        elif ctx.written.get(key) == seen.digest:
            return  # our own write
    ctx.wake(namespace, labels[LABEL_CERTIFICATE], ctx.now())
