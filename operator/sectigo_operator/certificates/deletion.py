"""Deletion policies: the finalizer of a certificate that needs one, and the deletion itself.

Only a certificate whose ``deletionPolicy`` is ``DeleteSecret`` or ``Revoke`` carries the
finalizer ``sectigo-operator.io/deletion-policy`` (added and removed by ``ensure_finalizer`` as
the policy changes), so a ``Retain`` certificate, its namespace or the CRDs can always be
deleted, with or without a running operator.

When such a certificate is deleted: ``Revoke`` revokes it at SCM (reasonCode 5,
cessationOfOperation; "already revoked" counts as done), retrying with backoff for at most
``revoke_on_delete_timeout_seconds`` from the deletion timestamp; then it gives up with a Warning
Event ``RevocationAbandoned`` and lets the deletion finish. The annotation
``sectigo-operator.io/skip-revoke: "true"`` skips the revocation. Both policies then delete the
Secret (only if it is ours) and the pending key, and remove the finalizer.
"""

from __future__ import annotations

from .. import metrics
from ..models import SectigoCertificate
from ..models.certificate import DeletionPolicy
from ..policies import backoff
from ..scm import ScmAlreadyRevokedError, ScmError
from ..settings import ANNOTATION_SKIP_REVOKE, FINALIZER
from .context import Context, Emit
from .gather import Inputs, pending_key_secret_name
from .kinds import OrderKind
from .outcomes import RetryLater
from .status import ensure_leading

PLURAL = SectigoCertificate.crd.plural
REASON_ABANDONED = "RevocationAbandoned"
REVOKE_REASON = "deleted from Kubernetes (deletionPolicy: Revoke)"


async def ensure_finalizer(ctx: Context, cert: SectigoCertificate) -> str | None:
    """Carry the finalizer exactly while the policy needs it (a write only when that changes).
    Returns the object's new resourceVersion when it wrote."""
    meta = cert.metadata
    present = FINALIZER in (meta.finalizers or [])
    wanted = cert.spec.deletion_policy != DeletionPolicy.RETAIN
    if present == wanted or meta.deletion_timestamp is not None:
        return None
    others = [f for f in meta.finalizers or [] if f != FINALIZER]
    return await ctx.kube.set_finalizers(
        PLURAL,
        meta.namespace or "",
        meta.name,
        [*others, FINALIZER] if wanted else others,
        meta.resource_version or "",
    )


async def delete(ctx: Context, inputs: Inputs, kind: OrderKind, emit: Emit, attempt: int) -> None:
    """Carry out the deletion policy of a certificate being deleted, then release it."""
    cert = inputs.cert
    meta, spec, status = cert.metadata, cert.spec, cert.status
    if FINALIZER not in (meta.finalizers or []):
        return
    ns = meta.namespace or ""
    policy = spec.deletion_policy
    skip = (meta.annotations or {}).get(ANNOTATION_SKIP_REVOKE) == "true"
    issued = status is not None and kind.order_number(status) is not None and status.fingerprint
    # A revokeRequest not acted on yet is honoured with its own reason (e.g. keyCompromise),
    # whatever the policy: the user asked for it before or with the deletion.
    request = spec.revoke_request
    answered = status.last_revoke_request_id if status is not None else None
    asked = request is not None and request.id != answered
    if (policy == DeletionPolicy.REVOKE or asked) and issued and not skip:
        assert status is not None
        code, reason = (
            (request.reason_code, request.reason) if asked and request else (5, REVOKE_REASON)
        )
        entry = inputs.entry
        try:
            if entry is None or not entry.ready or entry.client is None:
                raise ScmError(f"SectigoConfig {spec.config_ref.name!r} is not Ready")
            ensure_leading(ctx)
            await kind.revoke(entry.client, status, code, reason)
            metrics.order(spec.config_ref.name, status.ordered_cert_type, "Revoke")
            emit("Normal", "Revoked", f"certificate {status.cert_unique_id} revoked at SCM")
        except ScmAlreadyRevokedError:
            pass
        except ScmError as exc:
            started = meta.deletion_timestamp or inputs.now
            waited = (inputs.now - started).total_seconds()
            limit = ctx.settings.revoke_on_delete_timeout_seconds
            if waited < limit:
                delay = min(backoff(attempt + 1, base=2.0, cap=60.0), max(1.0, limit - waited))
                raise RetryLater(delay, f"revocation on delete failed: {exc}; retrying") from None
            emit(
                "Warning",
                REASON_ABANDONED,
                f"could not revoke {status.cert_unique_id} at SCM within {limit:.0f}s ({exc}); "
                "the certificate stays valid at SCM and the deletion goes on",
            )
    elif (policy == DeletionPolicy.REVOKE or asked) and skip:
        emit("Warning", REASON_ABANDONED, f"revocation skipped ({ANNOTATION_SKIP_REVOKE})")
    if inputs.secret_is_ours and policy != DeletionPolicy.RETAIN:  # Retain set after the finalizer
        await ctx.kube.delete_secret(ns, spec.secret_name)
    if inputs.has_pending_key_secret:
        await ctx.kube.delete_secret(ns, pending_key_secret_name(meta.name))
    others = [f for f in meta.finalizers or [] if f != FINALIZER]
    await ctx.kube.set_finalizers(PLURAL, ns, meta.name, others, meta.resource_version or "")
    ctx.orders.pop((ns, meta.name), None)
    ctx.wake(ns, meta.name, None)
