"""Import (the Vault plugin's ``fetch``): adopt an existing SCM certificate, never order one.

``spec.import`` names an SSL id or a client order number. The step records it as the order the
status follows and collects it; the key from ``privateKeySecretRef`` must match the collected
certificate (else ``Stalled`` ``KeyMismatch`` naming the field, and no Secret is written).
Without ``privateKeySecretRef`` the Secret (type ``Opaque``) holds ``tls.crt`` and ``ca.crt``
only and Ready is False with reason ``CertificateOnly``. From then on the certificate is managed
like any other (a renewal brings a new key and so a complete Secret).

Adoption (``adopt``) is the same collect for a certificate with no status whose Secret of ours,
kept from a certificate of the same name, records the order (``trigger.kept_secret``): the key
is the Secret's own, and nothing is ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import policies
from ..configs import ConfigEntry
from ..models import CertificateState
from . import issuing
from .context import Context, Emit
from .gather import Inputs
from .kinds import OrderKind, OrderRef
from .readiness import SecretState
from .status import StatusWriter, Verdict, stall


@dataclass(frozen=True)
class Step:
    """What an import or an adoption works with."""

    ctx: Context
    w: StatusWriter
    inputs: Inputs
    entry: ConfigEntry
    kind: OrderKind
    stored: SecretState
    emit: Emit
    ready: Verdict

    async def follow(self, ref: OrderRef, applied: str, doing: str) -> None:
        """Make order ``ref`` the one status follows (history: ``applied``) and collect it;
        ``issuing.KeyGone`` when no key at hand matches the certificate collected."""
        w = self.w
        backend = w.status.backend_cert_id  # a client order's collect id (None for SSL)
        other_backend = (
            None not in (backend, ref.backend_cert_id) and backend != ref.backend_cert_id
        )
        if self.kind.order_number(w.status) != ref.number or other_backend:
            self.kind.record(w.status, ref, self.entry.customer_uri)
            w.status.collect_started_at = w.now
            w.record(CertificateState.APPLIED, applied)
        await issuing.collect(
            self.ctx,
            w,
            self.inputs,
            None,
            self.entry,
            self.kind,
            self.stored,
            self.emit,
            self.ready,
            recollect=True,
            doing=doing,
        )


async def run(step: Step) -> None:
    source = step.inputs.cert.spec.import_
    assert source is not None
    number = source.ssl_id or source.order_number
    assert number is not None
    field = "spec.import.sslId" if source.ssl_id is not None else "spec.import.orderNumber"
    try:
        await step.follow(
            OrderRef(number), f"importing SCM certificate {number}", f"collecting {field} {number}"
        )
    except issuing.KeyGone as gone:
        if step.inputs.user_key is None:  # imported without its key: certificate and chain only
            await issuing.store(
                step.ctx,
                step.w,
                step.inputs,
                None,
                step.entry,
                step.kind,
                gone.chain,
                None,
                step.emit,
            )
            return
        await stall(
            step.w,
            step.emit,
            policies.REASON_KEY_MISMATCH,
            f"spec.privateKeySecretRef: the key does not match certificate {number} imported "
            "from SCM; nothing was written",
        )


async def adopt(step: Step, ref: OrderRef) -> None:
    """Follow order ``ref``, which the certificate's kept Secret records, and collect it: the
    certificate in the Secret, with the Secret's key, becomes this certificate's."""
    name, number = step.inputs.cert.spec.secret_name, ref.number
    try:
        await step.follow(
            ref,
            f"adopting SCM certificate {number} kept in {name!r}",
            f"collecting certificate {number} kept in Secret {name!r}",
        )
    except issuing.KeyGone:
        await stall(
            step.w,
            step.emit,
            policies.REASON_KEY_MISMATCH,
            f"Secret {name!r} records SCM certificate {number}, and SCM's certificate {number} "
            "does not match the Secret's key; delete the Secret to order anew",
        )
