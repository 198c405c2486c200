"""What a step decides on: the enrollment plan and the ``Facts`` the trigger's checks read,
derived from the gathered inputs, the status in memory and the Secret as inspected (no I/O)."""

from __future__ import annotations

from .. import policies
from ..policies import EnrollPlan, SpecError
from .context import data_digest
from .decision import Facts
from .gather import Inputs
from .issuing import collect_format
from .kinds import OrderKind, issued
from .readiness import SecretState
from .status import StatusWriter


def plan_of(inputs: Inputs) -> tuple[EnrollPlan | None, SpecError | None]:
    entry = inputs.entry
    if entry is None or not entry.ready or inputs.profile_problem is not None:
        return None, None
    try:
        return policies.plan_enrollment(inputs.cert.spec, entry.spec, inputs.profile_id), None
    except SpecError as exc:
        return None, exc


def facts_of(
    inputs: Inputs, w: StatusWriter, stored: SecretState, plan: EnrollPlan | None, kind: OrderKind
) -> Facts:
    spec, secret, entry = inputs.cert.spec, inputs.secret, inputs.entry
    auto = (
        spec.effective_renewal(entry.spec).auto_renew
        if entry
        else (
            spec.renewal.auto_renew
            if spec.renewal and spec.renewal.auto_renew is not None
            else True
        )
    )
    return Facts(
        spec=spec,
        status=w.status,
        generation=inputs.cert.metadata.generation,
        secret_name=spec.secret_name,
        secret_exists=secret is not None and not inputs.pending_in_target,
        secret_is_ours=inputs.secret_is_ours,
        secret=stored,
        secret_labels=dict(secret.labels) if secret else {},
        secret_annotations=dict(secret.annotations) if secret else {},
        secret_keys=frozenset(secret.data) if secret else frozenset(),
        secret_digest=data_digest(secret.data) if secret else None,
        plan=plan,
        can_replace=kind.can_replace,
        auto_renew=auto,
        now=inputs.now,
        uid=inputs.cert.metadata.uid or "",
        revoked_at_scm=listed_revoked(inputs, w, kind),
        collect_format=collect_format(inputs),
    )


def listed_revoked(inputs: Inputs, w: StatusWriter, kind: OrderKind) -> bool:
    ids = issued(w.status)
    number = ids.ssl_id if kind.scm == "ssl" else ids.order_number
    if number is None or w.status.fingerprint is None:
        return False
    listed = inputs.revoked
    return listed is not None and (kind.scm, number) in listed
