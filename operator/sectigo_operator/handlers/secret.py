"""Managed Secrets: a deleted or edited certificate Secret wakes its certificate at once.

A pending-key Secret written by someone else (another operator process, e.g. a frozen old leader
that woke up) wakes its certificate too, which removes it once nothing is in flight: no stray
copy of a private key survives.

Only Secrets labelled as ours are handled (``app.kubernetes.io/managed-by: sectigo-operator``
with a certificate label). Event handlers keep no state on the Secret: no annotations, no
finalizer. The operator's own writes are recognised by the digest of the data it wrote and do not
wake anything; the initial listing at start-up is skipped (every certificate is resumed anyway).
"""

from __future__ import annotations

import base64
from typing import Any

import kopf

from ..certificates import Context
from ..certificates.context import data_digest
from ..settings import LABEL_CERTIFICATE, LABEL_MANAGED_BY, LABEL_PENDING_KEY, MANAGED_BY


@kopf.on.event(
    "v1",
    "secrets",
    id="managed-secret",
    labels={
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_CERTIFICATE: kopf.PRESENT,
    },
)
def on_secret_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
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
        data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        if ctx.written.get((namespace, name)) == data_digest(data):
            return  # our own write
    else:
        ctx.written.pop((namespace, name), None)
    ctx.wake(namespace, labels[LABEL_CERTIFICATE], ctx.now())
