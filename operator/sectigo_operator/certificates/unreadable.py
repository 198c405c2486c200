"""A stored SectigoCertificate this version's model refuses (stored before a rule was added).

Reported once, as ``Stalled`` ``InvalidSpec`` naming the fields, with a Warning Event: a person
must correct the spec. Nothing else is touched, and an unchanged object is not written again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from pydantic import ValidationError

from .. import metrics, policies
from ..models import CertificateStatus, SectigoCertificate, set_flags, status_patch
from .context import Context, Emit
from .outcomes import Stalled


async def report_unreadable(
    ctx: Context, body: Mapping[str, Any], emit: Emit, exc: ValidationError
) -> NoReturn:
    """A stored certificate this version's model refuses: say which fields, once, and wait
    for a person (no traceback loop). Nothing else is touched; an edit brings a new step."""
    fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors(include_input=False)})
    message = f"the stored object fails validation at {', '.join(fields)}: correct the spec"
    meta = body.get("metadata") or {}
    raw = body.get("status") or {}
    try:
        status = CertificateStatus.model_validate(dict(raw))
    except ValidationError:
        status = CertificateStatus()
    previous = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    status.conditions = set_flags(
        status.conditions,
        (("Ready", False), ("Stalled", True)),
        policies.REASON_INVALID_SPEC,
        message,
        meta.get("generation"),
        ctx.now(),
    )
    if status.model_dump(mode="json", by_alias=True, exclude_none=True) != previous:
        await ctx.kube.patch_status(
            SectigoCertificate.crd.plural,
            meta.get("namespace") or "",
            meta.get("name") or "",
            status_patch(status, previous=previous),
            meta.get("resourceVersion") or None,
        )
        emit("Warning", policies.REASON_INVALID_SPEC, message)
    metrics.reconcile_error(policies.REASON_INVALID_SPEC)
    raise Stalled(message)
