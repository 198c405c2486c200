"""Managed Secrets: a deleted or edited certificate Secret wakes its certificate at once.

A pending-key Secret written by someone else (another operator process, e.g. a frozen old leader
that woke up) wakes its certificate too, which removes it once nothing is in flight: no stray
copy of a private key survives.

Only Secrets labelled as ours are seen (``app.kubernetes.io/managed-by: sectigo-operator`` with a
certificate label, a server-side selector). Nothing is written on them. The operator's own
writes are recognised by the digest of the data it wrote and do not wake anything.

What the operator knows of each managed Secret without reading it (``Context.secrets``: the
certificate label and the data digest, never the data) comes from one paged list at start-up
(``prefill``, before any certificate handler runs) and then from a watch that starts at that
list's resourceVersion, so nothing happens in between unseen. A restarted operator judges a
settled certificate from it (``certificates.settled``).

The watch is this module's, not Kopf's: a Kopf watch lists every managed Secret a second time at
start-up and queues each listed body, keys included, until its handler has run (45 MiB more at
the peak of a restart with 3,000 certificates). Here each watch event is reduced to a
``SecretEvent`` (names, certificate label, digest) in the watch's own thread and the body is
dropped there. An expired resourceVersion (410) lists again and compares (``resync``); a broken
connection resumes from the last resourceVersion after a bounded back-off.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kubernetes.watch

from ..certificates import Context
from ..certificates.context import WatchedSecret, data_digest
from ..k8s import Kube, KubeError, KubeGone, SecretData
from ..settings import LABEL_CERTIFICATE, LABEL_MANAGED_BY, LABEL_PENDING_KEY, MANAGED_BY

logger = logging.getLogger(__name__)

SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_CERTIFICATE}"
"""The label selector of managed Secrets (the start-up list and the watch)."""
WATCH_SECONDS = 300
"""How long one watch request lasts before the API server ends it and it is made again."""
MAX_BACKOFF = 30.0
"""The longest wait before a failed watch or list is tried again (seconds)."""


def jittered(delay: float) -> float:
    """Between half and all of ``delay``: the watches of many namespaces (and of many replicas)
    that failed together, at an API server restart, list again at different moments."""
    return delay * (0.5 + random.random() / 2)  # spreading load, not a secret


Key = tuple[str, str]


@dataclass(frozen=True)
class SecretEvent:
    """A watch event of a managed Secret, without its data."""

    type: str
    """ADDED, MODIFIED or DELETED."""
    namespace: str
    name: str
    certificate: str
    """The certificate label's value."""
    pending: bool
    """Labelled as a pending key."""
    digest: str

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


def watched_secret(labels: Mapping[str, str], data: Mapping[str, bytes]) -> WatchedSecret:
    return WatchedSecret(labels.get(LABEL_CERTIFICATE, ""), data_digest(data))


def secret_event(event: Mapping[str, Any]) -> SecretEvent | None:
    """The ``SecretEvent`` of a raw watch event; ``None`` for a bookmark or anything else."""
    kind = event.get("type")
    if kind not in ("ADDED", "MODIFIED", "DELETED"):
        return None
    obj: Mapping[str, Any] = event.get("raw_object") or event.get("object") or {}
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    data = {k: _decoded(v) for k, v in (obj.get("data") or {}).items()}
    return SecretEvent(
        kind,
        meta.get("namespace", ""),
        meta.get("name", ""),
        labels.get(LABEL_CERTIFICATE, ""),
        LABEL_PENDING_KEY in labels,
        data_digest(data),
    )


def _decoded(value: str) -> bytes:
    """A data value; one that is not base64 (never from an API server) counts as its text, so
    that its digest still tells it from what the operator wrote."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return str(value).encode()


def apply_event(ctx: Context, event: SecretEvent) -> None:
    """Keep ``ctx.secrets`` current; wake the certificate unless the event is our own write or
    the removal of a pending key. A Secret relabelled to another certificate wakes the one it
    was labelled for too."""
    key = event.key
    before = ctx.secrets.get(key)
    if before is not None and before.certificate not in ("", event.certificate):
        ctx.wake(event.namespace, before.certificate, ctx.now())
    if event.type == "DELETED":
        ctx.secrets.pop(key, None)
        ctx.written.pop(key, None)
        if event.pending:
            return  # ours, after issuance (or noticed at collect)
    else:
        ctx.secrets[key] = WatchedSecret(event.certificate, event.digest)
        if ctx.written.get(key) == event.digest:
            return  # our own write
    if event.certificate:
        ctx.wake(event.namespace, event.certificate, ctx.now())


def resync(
    ctx: Context, namespace: str | None, listed: Mapping[Key, WatchedSecret], wake: bool
) -> None:
    """Replace what ``ctx.secrets`` holds of ``namespace`` (``None``: all) by a fresh list.
    With ``wake``, each certificate whose Secret changed, appeared or went unseen (the watch
    was broken meanwhile) is woken, unless the change is our own write."""
    for key in [k for k in ctx.secrets if namespace is None or k[0] == namespace]:
        if key not in listed:
            gone = ctx.secrets.pop(key)
            ctx.written.pop(key, None)
            if wake and gone.certificate:
                ctx.wake(key[0], gone.certificate, ctx.now())
    for key, seen in listed.items():
        before = ctx.secrets.get(key)
        ctx.secrets[key] = seen
        if not wake or seen == before:
            continue
        if before is not None and before.certificate not in ("", seen.certificate):
            ctx.wake(key[0], before.certificate, ctx.now())  # relabelled away from it
        if ctx.written.get(key) != seen.digest and seen.certificate:
            ctx.wake(key[0], seen.certificate, ctx.now())


async def prefill(ctx: Context, kube: Kube, namespaces: Sequence[str], page: int) -> SecretWatch:
    """Fill ``ctx.secrets`` with one paged list of the managed Secrets of each watched
    namespace (or of all) at start-up, before any handler runs, and start watching from it.
    Where a list fails, that namespace's certificates get the full step at resume, and its watch
    lists again in its own time; the other namespaces are not held back."""
    scopes: list[str | None] = list(namespaces) or [None]
    versions: dict[str | None, str | None] = dict.fromkeys(scopes)
    for scope in scopes:
        found: dict[Key, WatchedSecret] = {}
        try:
            async for listed in kube.list_secrets(scope, SELECTOR, page):
                found.update({(s.namespace, s.name): _watched(s) for s in listed.items})
                versions[scope] = listed.resource_version
        except KubeError as exc:
            where = f"in namespace {scope!r}" if scope else "in all namespaces"
            logger.warning(
                "listing managed Secrets %s failed (%s): their certificates are read", where, exc
            )
            versions[scope] = None
            continue
        ctx.secrets.update(found)
        ctx.listed.add(scope)
    watch = SecretWatch(ctx, kube, page)
    for scope, version in versions.items():
        watch.start(scope, version)
    return watch


def _watched(secret: SecretData) -> WatchedSecret:
    return watched_secret(secret.labels, secret.data)


class SecretWatch:
    """One thread per watched namespace (or one for all), each streaming the managed Secrets'
    watch events and handing them, reduced, to the event loop."""

    def __init__(self, ctx: Context, kube: Kube, page: int) -> None:
        self.ctx, self.kube, self.page = ctx, kube, page
        self.loop = asyncio.get_running_loop()
        self.stopped = threading.Event()
        self.threads: list[threading.Thread] = []
        self.watches: list[kubernetes.watch.Watch] = []

    first_delay = 1.0
    """The first wait after a failure (doubled up to ``MAX_BACKOFF`` while failures last)."""

    def new_watch(self) -> kubernetes.watch.Watch:
        return kubernetes.watch.Watch()  # type: ignore[no-untyped-call]

    def start(self, scope: str | None, version: str | None) -> None:
        watch = self.new_watch()
        thread = threading.Thread(
            target=self._run,
            args=(watch, scope, version),
            name=f"sectigo-secrets-{scope or 'all'}",
            daemon=True,  # a watch blocked in a read never holds up the process's exit
        )
        self.watches.append(watch)
        self.threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Ends every watch (from the event loop); the threads end on their own."""
        self.stopped.set()
        for watch in self.watches:
            watch.stop()  # type: ignore[no-untyped-call]  # shuts the socket a read waits on

    def _post(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: the operator is stopping
            self.stopped.set()

    def _listed(self, scope: str | None) -> tuple[dict[Key, WatchedSecret], str]:
        listed: dict[Key, WatchedSecret] = {}
        token: str | None = None
        while True:
            page = self.kube.secret_page(scope, SELECTOR, self.page, token)
            listed.update({(s.namespace, s.name): _watched(s) for s in page.items})
            token = page.next
            if not token:
                return listed, page.resource_version

    def _resynced(self, scope: str | None, listed: dict[Key, WatchedSecret]) -> None:
        # A scope listed before (a 410) wakes what changed; the first list of a scope whose
        # start-up list failed does not: its certificates all got the full step at resume.
        known = scope in self.ctx.listed or None in self.ctx.listed
        resync(self.ctx, scope, listed, wake=known)
        self.ctx.listed.add(scope)

    def _run(self, watch: kubernetes.watch.Watch, scope: str | None, version: str | None) -> None:
        delay = self.first_delay
        while not self.stopped.is_set():
            delivered = False
            try:
                if version is None:
                    listed, version = self._listed(scope)
                    self._post(self._resynced, scope, listed)
                for raw in self.kube.watch_secrets(watch, scope, SELECTOR, version, WATCH_SECONDS):
                    if self.stopped.is_set():
                        return
                    event = secret_event(raw)
                    if event is not None:
                        self._post(apply_event, self.ctx, event)
                    # only now: an event that could not be handled is delivered again
                    meta = (raw.get("raw_object") or raw.get("object") or {}).get("metadata") or {}
                    version = meta.get("resourceVersion") or version
                    delivered, delay = True, self.first_delay
                # the API server ended the watch after WATCH_SECONDS: make it again at once
            except KubeGone:
                version = None  # list again, compare, watch from the new list
                if not delivered:  # gone at once, even from a fresh list: do not loop on lists
                    self.stopped.wait(jittered(delay))
                    delay = min(delay * 2, MAX_BACKOFF)
            except Exception as exc:
                if self.stopped.is_set():
                    return
                wait = jittered(delay)
                logger.warning(
                    "watch of managed Secrets failed (%s): again in %.1f s",
                    exc if isinstance(exc, KubeError) else type(exc).__name__,
                    wait,
                )
                self.stopped.wait(wait)
                delay = min(delay * 2, MAX_BACKOFF)
