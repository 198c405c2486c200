"""Revoking a certificate at SCM once per ``spec.revokeRequest.id``.

Revocation is idempotent at SCM: revoking a revoked certificate answers -159 "already revoked",
which counts as done. So a crash or a lost answer needs no marker: the next step revokes again
and gets -159. Afterwards the certificate is ``Revoked`` (``Ready=False`` reason ``Revoked``),
is never renewed, and the Secret is kept as it is (deleting it could take a workload down at
once; the certificate in it is revoked either way). A later spec change orders a new
certificate.
"""

from __future__ import annotations

from .. import metrics
from ..configs import ConfigEntry
from ..models import CertificateState
from ..scm import ScmAlreadyRevokedError, ScmError, ScmResponseLost
from .context import Context, Emit
from .gather import Inputs
from .kinds import OrderKind
from .outcomes import RetryLater
from .status import StatusWriter, ensure_leading, scm_failure

REASON_REVOKED = "Revoked"
REASON_REVOKING = "Revoking"


async def revoke(
    ctx: Context, w: StatusWriter, inputs: Inputs, entry: ConfigEntry, kind: OrderKind, emit: Emit
) -> None:
    request = inputs.cert.spec.revoke_request
    assert request is not None and entry.client is not None
    status = w.status
    message = f"revoking {status.cert_unique_id} at SCM (reasonCode {request.reason_code})"
    w.record(CertificateState.REVOKING, message)
    w.conditions(ready=(False, REASON_REVOKING, message), issuing=(True, REASON_REVOKING, message))
    await w.flush()
    ensure_leading(ctx)
    try:
        await kind.revoke(entry.client, status, request.reason_code, request.reason)
        metrics.order(w.config_name, status.ordered_cert_type, "Revoke")
    except ScmAlreadyRevokedError:
        pass  # done before (a lost answer, a crash, or someone else)
    except ScmResponseLost as exc:
        w.error(exc)
        await w.flush()
        raise RetryLater(1.0, f"SCM's answer to the revocation was lost ({exc})") from None
    except ScmError as exc:
        await scm_failure(ctx, w, emit, exc, "revoking", (False, REASON_REVOKING, message))
    status.last_revoke_request_id = request.id
    done = f"certificate {status.cert_unique_id} revoked at SCM: {request.reason}"
    w.error(None)
    w.record(CertificateState.REVOKED, done)
    w.conditions(ready=(False, REASON_REVOKED, done))
    await w.flush()
    emit("Normal", REASON_REVOKED, done)
    ctx.orders.pop((w.namespace, w.name), None)
    ctx.wake(w.namespace, w.name, None)
