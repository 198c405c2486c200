"""Managed Secrets: a deleted or edited certificate Secret wakes its certificate at once.

A pending-key Secret written by someone else (another operator process, e.g. a frozen old leader
that woke up) wakes its certificate too, which removes it once nothing is in flight: no stray
copy of a private key survives.

Only Secrets labelled as ours are handled (``app.kubernetes.io/managed-by: sectigo-operator``
with a certificate label). Event handlers keep no state on the Secret: no annotations, no
finalizer. The operator's own writes are recognised by the digest of the data it wrote and do not
wake anything; the initial listing at start-up is skipped (every certificate is resumed anyway).

``managed_secrets`` is a Kopf index of the same Secrets: (namespace, name) -> the certificate
label and the data digest, never the data. Kopf fills it from its listing before any handler of
any resource runs, so a restarted operator judges a settled certificate from it
(``certificates.settled``) instead of reading and parsing its Secret again.
"""

from __future__ import annotations

import base64
from typing import Any

import kopf

from ..certificates import Context
from ..certificates.context import data_digest
from ..certificates.settled import WatchedSecret
from ..settings import LABEL_CERTIFICATE, LABEL_MANAGED_BY, LABEL_PENDING_KEY, MANAGED_BY

MANAGED: dict[str, Any] = {  # a label value or kopf.PRESENT
    LABEL_MANAGED_BY: MANAGED_BY,
    LABEL_CERTIFICATE: kopf.PRESENT,
}

SecretIndex = kopf.Index[tuple[str, str], WatchedSecret]


@kopf.index("v1", "secrets", id="managed_secrets", labels=MANAGED)
def managed_secrets(
    body: kopf.Body, namespace: str | None, name: str | None, **_: Any
) -> dict[tuple[str, str], WatchedSecret]:
    data = {k: base64.b64decode(v) for k, v in (body.get("data") or {}).items()}
    label = body.metadata.labels.get(LABEL_CERTIFICATE, "")
    return {(namespace or "", name or ""): WatchedSecret(label, data_digest(data))}


def watched(index: SecretIndex, namespace: str, name: str) -> WatchedSecret | None:
    """The index's entry for one Secret (None: no managed Secret of that name)."""
    for found in index.get((namespace, name), ()):
        return found
    return None


@kopf.on.event("v1", "secrets", id="managed-secret", labels=MANAGED)
def on_secret_event(event: kopf.RawEvent, memo: kopf.Memo, **kwargs: Any) -> None:
    kind = event.get("type")
    obj: dict[str, Any] = dict(event.get("object") or {})
    meta: dict[str, Any] = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    if kind is None:
        return
    ctx: Context | None = getattr(memo, "context", None)
    if ctx is None:
        return
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    if LABEL_PENDING_KEY in labels and kind == "DELETED":
        ctx.written.pop((namespace, name), None)  # ours, after issuance (or noticed at collect)
        return
    if kind != "DELETED":
        # The index was updated from this very event before the handler runs (its digest).
        seen = watched(kwargs["managed_secrets"], namespace, name)
        if seen is not None and ctx.written.get((namespace, name)) == seen.digest:
            return  # our own write
    else:
        ctx.written.pop((namespace, name), None)
    ctx.wake(namespace, labels[LABEL_CERTIFICATE], ctx.now())
