"""The certificate's status in memory, written with one merge patch per step.

Status is the hand-off between steps (and between operator processes): the enrollment marker,
the SCM ids, the state history and the conditions. ``StatusWriter`` collects the changes of a
step; ``flush`` writes them, and only when something changed, so a step that finds everything in
order writes nothing. ``stall`` and ``scm_failure`` are the two ways a step reports a problem.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from .. import metrics, policies
from ..k8s import KubeConflict
from ..models import (
    CertificateState,
    CertificateStatus,
    Condition,
    ConditionStatus,
    Enrollment,
    SectigoCertificate,
    append_history,
    find_condition,
    set_condition,
    status_patch_of,
)
from ..models import ScmError as StatusError
from ..scm import ScmAuthenticationError, ScmError, ScmPermanentError
from .context import Context, Emit, KubeApi
from .outcomes import RetryLater, Stalled

PLURAL = SectigoCertificate.crd.plural

Verdict = tuple[bool, str, str]
"""A condition's (status, reason, message)."""


class StatusWriter:
    """The certificate's status in memory, written to the API with one merge patch per step."""

    def __init__(self, kube: KubeApi, cert: SectigoCertificate, now: datetime) -> None:
        self.kube = kube
        self.namespace = cert.metadata.namespace or ""
        self.name = cert.metadata.name
        self.uid = cert.metadata.uid or ""
        self.generation = cert.metadata.generation
        self.limit = cert.spec.history_limit
        self.config_name = cert.spec.config_ref.name
        self.status = cert.status or CertificateStatus()
        self.now = now
        self.resource_version = cert.metadata.resource_version or ""
        """The object's version as last read or written by this step (the fence)."""
        self._written = self._dump()
        """The status as the server holds it, as far as this step knows: as read, then as last
        written (a write deletes what it had and ``status`` lacks, see ``flush``)."""
        self.placed_event: tuple[str, str] | None = None
        """(reason, message) of the Normal Event for an operation placed in this step, posted
        only if the certificate is not issued at once (the Issued Event says it otherwise)."""
        self.usable: Verdict | None = None
        """Ready's verdict from the Secret alone (set by the step): a stall or an SCM failure
        keeps Ready True while the Secret still holds a valid certificate."""
        self.placed = False
        """SCM accepted (or this step found) the operation in flight: from here on a status
        write records what happened at SCM, and ``flush`` does not drop it for an edit of the
        spec or metadata made meanwhile (``_still_ours``)."""

    def record(self, state: CertificateState, message: str | None = None) -> None:
        """Set ``state`` and append it to the history when it changed."""
        if self.status.state != state:
            self.status.history = append_history(
                self.status.history,
                state.value,
                self.now,
                message,
                self.limit,
            )
        self.status.state = state

    def conditions(
        self, *, ready: Verdict, issuing: Verdict | None = None, stalled: Verdict | None = None
    ) -> None:
        """Set Ready, Issuing and Stalled; an unset one is False, with its own reason.

        Issuing and Stalled only repeat Ready's message when they are True: a False condition
        just says it does not apply.
        """
        for type_, value in (("Ready", ready), ("Issuing", issuing), ("Stalled", stalled)):
            flag, reason, message = value or (False, _idle_reason(type_), _idle_message(type_))
            self._condition(type_, flag, reason, message)

    def _condition(self, type_: str, flag: bool, reason: str, message: str) -> None:
        wanted = ConditionStatus.TRUE if flag else ConditionStatus.FALSE
        old = find_condition(self.status.conditions, type_)
        if (
            old is not None
            and old.status == wanted
            and old.reason == reason
            and old.message == message[:1024]
            and old.observed_generation == self.generation
        ):
            return
        self.status.conditions = set_condition(
            self.status.conditions,
            Condition(
                type=type_,
                status=wanted,
                reason=reason,
                message=message[:1024],
                observed_generation=self.generation,
            ),
            self.now,
        )

    def error(self, exc: ScmError | None) -> None:
        if exc is None:
            self.status.last_error = None
            return
        self.status.last_error = StatusError(
            code=exc.code,
            description=(exc.description or str(exc))[:1024],
            http_status=exc.http_status,
            timestamp=self.now,
        )

    def set_ready(self, verdict: Verdict) -> None:
        """Set Ready alone (Issuing and Stalled keep what they say)."""
        self._condition("Ready", *verdict)

    @property
    def unwritten_marker(self) -> str | None:
        """The marker of the operation in memory while status does not record it (a first
        order's: it is on the Secret holding the key, and goes on the certificate's Secret)."""
        enrollment = self.status.enrollment
        if enrollment is None or not enrollment.marker:
            return None
        written = self._written.get("enrollment") or {}
        return None if written.get("marker") == enrollment.marker else enrollment.marker

    def _dump(self) -> dict[str, Any]:
        return self.status.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def dirty(self) -> bool:
        return self._dump() != self._written

    async def flush(self) -> None:
        """Write the status (one merge patch) if it changed since it was read or last written.

        Fenced: only if the object is still at the version this step read or last wrote
        (KubeConflict otherwise, and the step is taken again from a fresh read). Of two operator
        processes acting on the same version only one records a marker and orders; an old leader
        that wakes up from a pause never writes its stale view over the new leader's.
        """
        self.status.observed_generation = self.generation
        body = self._dump()
        if body == self._written:
            return
        # A field set to None, at any depth, is deleted: the patch has null for what the
        # server holds (``_written``) and ``body`` lacks; a merge patch would keep it otherwise.
        patch = status_patch_of(body, previous=self._written)
        try:
            version = await self.kube.patch_status(
                PLURAL, self.namespace, self.name, patch, self.resource_version or None
            )
        except KubeConflict:
            if not self.placed or not await self._still_ours():
                raise
            version = await self.kube.patch_status(
                PLURAL, self.namespace, self.name, patch, self.resource_version or None
            )
        self.resource_version = version or self.resource_version
        self._written = body

    async def _still_ours(self) -> bool:
        """After SCM acted for this step, the fence refused the status write: if only the
        certificate's spec or metadata changed meanwhile (same object, status as this step
        last knew it), what SCM did is still this status's to record, at the new version; the
        next step acts on the edit (a replacement for new names). Dropping it would leave an
        order at SCM that no status records, looked up again by the edited names. Any other
        writer of the status keeps the refusal."""
        body = await self.kube.get_object(PLURAL, self.namespace, self.name)
        if body is None:
            return False
        fresh = SectigoCertificate.from_body(body)
        if (fresh.metadata.uid or "") != self.uid:
            return False
        seen = (fresh.status or CertificateStatus()).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        if seen != self._written:
            return False
        self.resource_version = fresh.metadata.resource_version or ""
        return True

    def forget_order(self) -> None:
        """Drop the order ids (a failed order, or one whose certificate is gone for good)."""
        status = self.status
        status.ssl_id = status.renew_id = status.order_number = status.backend_cert_id = None
        status.cert_unique_id = status.collect_started_at = status.scm_status = None
        attempt = status.enrollment.attempt if status.enrollment else 0
        status.enrollment = Enrollment(marker="", attempt=attempt or 0)


def ensure_leading(ctx: Context) -> None:
    """Refuse an SCM order from a process that lost the leadership (see ``leadership``): called
    right before every SCM call that places or revokes a certificate."""
    if not ctx.leading():
        raise RetryLater(5.0, "this operator process is not the leader any more")


def _idle_reason(type_: str) -> str:
    return {"Issuing": "NotIssuing", "Stalled": "NotStalled"}.get(type_, "Unknown")


def _idle_message(type_: str) -> str:
    return {
        "Issuing": "no SCM operation in progress",
        "Stalled": "nothing needs a person",
    }.get(type_, "")


async def stall(
    w: StatusWriter,
    emit: Emit,
    reason: str,
    message: str,
    error: ScmError | None = None,
    *,
    again: float | None = None,
) -> NoReturn:
    """Report what only a person can fix (Ready False, Stalled True, a Warning Event). With
    ``again``, look again after that many seconds (``RetryLater``): for what a person fixes in a
    Secret the operator does not watch, which is no change of spec."""
    metrics.reconcile_error(reason)
    if error is not None:
        w.error(error)
    before = find_condition(w.status.conditions, "Stalled")
    said = before is not None and (before.status, before.reason, before.message) == (
        ConditionStatus.TRUE,
        reason,
        message,
    )
    ready = w.usable if w.usable is not None and w.usable[0] else (False, reason, message)
    w.conditions(ready=ready, stalled=(True, reason, message))
    await w.flush()
    if again is not None:
        if not said:  # each look again says it once, not once per look
            emit("Warning", reason, message)
        raise RetryLater(again, message)
    emit("Warning", reason, message)
    raise Stalled(message)


async def scm_failure(
    ctx: Context, w: StatusWriter, emit: Emit, exc: ScmError, doing: str, ready: Verdict
) -> NoReturn:
    """Record an SCM failure and raise RetryLater with backoff (or Stalled).

    Rejected credentials are the config's problem, not the certificate's: the certificate waits
    (the config is re-checked and reports it) and recovers once the Secret is fixed. ``ready``
    is what Ready says meanwhile (True while a valid certificate is still in the Secret).
    """
    metrics.reconcile_error(
        policies.REASON_CONFIG_NOT_READY
        if isinstance(exc, ScmAuthenticationError)
        else policies.REASON_SCM_ERROR
    )
    if isinstance(exc, ScmAuthenticationError):
        ctx.configs.mark_failed(w.namespace, w.config_name, exc)
        message = f"SCM rejected the credentials while {doing}: {exc}; waiting for the config"
        w.error(exc)
        reason = policies.REASON_CONFIG_NOT_READY
        w.conditions(ready=_keep(ready, reason, message), issuing=(True, reason, message))
        await w.flush()
        raise RetryLater(ctx.settings.wait_config_max_delay, message)
    if isinstance(exc, ScmPermanentError):
        await stall(w, emit, policies.REASON_SCM_ERROR, f"SCM error while {doing}: {exc}", exc)
    attempts = (w.status.failed_attempts or 0) + 1
    w.status.failed_attempts = attempts
    w.error(exc)
    message = f"SCM error while {doing}: {exc}; retrying"
    reason = policies.REASON_SCM_UNAVAILABLE
    w.conditions(ready=_keep(ready, reason, message), issuing=(True, reason, message))
    await w.flush()
    emit("Warning", reason, message)
    delay = policies.backoff(attempts, base=2.0, cap=ctx.settings.retry_max_delay)
    if exc.retry_after:  # SCM's wish, within the documented ceiling
        delay = min(max(delay, exc.retry_after), ctx.settings.retry_max_delay)
    raise RetryLater(delay, message)


def _keep(ready: Verdict, reason: str, message: str) -> Verdict:
    """Ready stays True (with its own message) while the Secret holds a valid certificate."""
    return ready if ready[0] else (False, reason, message)
