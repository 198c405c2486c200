"""Handlers of SectigoCertificate: one reconcile for create, update and resume.

The work is in ``sectigo_operator.issuance``; this module only translates its outcome:
``RetryLater`` -> ``kopf.TemporaryError(delay=...)`` (Kopf wakes the object up again then, with
no worker blocked), ``Stalled`` -> ``kopf.PermanentError`` (status already explains it; a spec
change starts a new attempt).
"""

from __future__ import annotations

from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from ..issuance import Context, RetryLater, Stalled, reconcile
from ..models import GROUP, VERSION

PLURAL = "sectigocertificates"


async def _run(body: kopf.Body, memo: kopf.Memo, retry: int) -> None:
    ctx: Context = memo.context

    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    try:
        await reconcile(ctx, body, emit, retry)
    except RetryLater as exc:
        raise kopf.TemporaryError(str(exc), delay=exc.delay) from None
    except Stalled as exc:
        raise kopf.PermanentError(str(exc)) from None
    except ApiException as exc:
        # Kopf would store str(exc) (the whole HTTP response) in an annotation: keep it short.
        delay = min(300.0, 2.0 ** min(retry + 1, 8))
        raise kopf.TemporaryError(
            f"Kubernetes API error HTTP {exc.status} {exc.reason or ''}".strip(), delay=delay
        ) from None


@kopf.on.resume(GROUP, VERSION, PLURAL, id="certificate-resume")
@kopf.on.create(GROUP, VERSION, PLURAL, id="certificate-create")
@kopf.on.update(GROUP, VERSION, PLURAL, id="certificate-update", field="spec")
async def on_change(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _run(body, memo, retry)
