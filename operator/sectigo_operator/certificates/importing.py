"""Import (the Vault plugin's ``fetch``): adopt an existing SCM certificate, never order one.

``spec.import`` names an SSL id or a client order number. The step records it as the order the
status follows and collects it; the key from ``privateKeySecretRef`` must match the collected
certificate (else ``Stalled`` ``KeyMismatch`` naming the field, and no Secret is written).
Without ``privateKeySecretRef`` the Secret (type ``Opaque``) holds ``tls.crt`` and ``ca.crt``
only and Ready is False with reason ``CertificateOnly``. From then on the certificate is managed
like any other (a renewal brings a new key and so a complete Secret).
"""

from __future__ import annotations

from .. import policies
from ..configs import ConfigEntry
from ..models import CertificateState
from . import issuing
from .context import Context, Emit
from .gather import Inputs
from .kinds import OrderKind, OrderRef
from .readiness import SecretState
from .status import StatusWriter, Verdict, stall


async def run(
    ctx: Context,
    w: StatusWriter,
    inputs: Inputs,
    entry: ConfigEntry,
    kind: OrderKind,
    stored: SecretState,
    emit: Emit,
    ready: Verdict,
) -> None:
    source = inputs.cert.spec.import_
    assert source is not None
    number = source.ssl_id or source.order_number
    assert number is not None
    if kind.order_number(w.status) != number:
        kind.record(w.status, OrderRef(number), entry.customer_uri)
        w.status.collect_started_at = w.now
        w.record(CertificateState.APPLIED, f"importing SCM certificate {number}")
    field = "spec.import.sslId" if source.ssl_id is not None else "spec.import.orderNumber"
    try:
        await issuing.collect(
            ctx,
            w,
            inputs,
            None,
            entry,
            kind,
            stored,
            emit,
            ready,
            recollect=True,
            doing=f"collecting {field} {number}",
        )
    except issuing.KeyGone as gone:
        if inputs.user_key is None:  # imported without its key: certificate and chain only
            await issuing.store(ctx, w, inputs, None, entry, kind, gone.chain, None, emit)
            return
        await stall(
            w,
            emit,
            policies.REASON_KEY_MISMATCH,
            f"spec.privateKeySecretRef: the key does not match certificate {number} imported "
            "from SCM; nothing was written",
        )
