"""Placing an SCM operation exactly once: enroll, renew or replace, crash-safe by marker.

Before SCM is called, the key is persisted (``keys``) and the enrollment marker, with the
operation and the id it acts on, is written to status. The marker goes into an order's
``comments``. When the answer is lost, or the operator dies before recording it, the next step
finds the result at SCM instead of calling again:

- enroll: the order whose comments carry the marker;
- renew: the source order says ``renewed`` and the renewal (a newer order for the same name whose
  comments carry this certificate's uid) is adopted; not renewed: renewing is safe;
- replace: the order is pending again, or already issued for the new key; otherwise replacing
  is safe (SCM never re-issued it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NoReturn

from .. import metrics, pki, policies
from ..configs import ConfigEntry
from ..models import CertificateState, Enrollment, EnrollmentOperation
from ..policies import EnrollPlan, SpecError
from ..scm import Issued, ScmAuthenticationError, ScmError, ScmPermanentError, ScmResponseLost
from .context import Context, Emit
from .decision import Action
from .gather import Inputs, first_order_marker
from .keys import KeyMaterial, material
from .kinds import OrderKind, OrderRef
from .outcomes import RetryLater, SecretMissing
from .readiness import SecretState
from .status import StatusWriter, Verdict, ensure_leading, scm_failure, stall

STATE_OF = {
    Action.ORDER: CertificateState.ENROLLING,
    Action.RENEW: CertificateState.RENEWING,
    Action.REPLACE: CertificateState.REPLACING,
}
REASON_OF = {
    Action.ORDER: policies.REASON_ENROLLING,
    Action.RENEW: "Renewing",
    Action.REPLACE: "Replacing",
}

EVENT_OF = {
    EnrollmentOperation.ENROLL: "Enrolled",
    EnrollmentOperation.RENEW: "Renewed",
    EnrollmentOperation.REPLACE: "Replaced",
}


def operation_for(action: Action, kind: OrderKind, new_key: bool) -> EnrollmentOperation:
    """The SCM call of an action (a client renewal with a new key is a new enrollment)."""
    if action == Action.RENEW and (kind.renew_takes_csr or not new_key):
        return EnrollmentOperation.RENEW
    if action == Action.REPLACE and kind.can_replace:
        return EnrollmentOperation.REPLACE
    return EnrollmentOperation.ENROLL


def placed(inputs: Inputs, kind: OrderKind) -> bool:
    """Has SCM's answer to the operation in flight been recorded?"""
    status = inputs.cert.status
    enrollment = status.enrollment if status else None
    if status is None or enrollment is None:
        return False
    if enrollment.placed is not None:
        return enrollment.placed
    return kind.order_number(status) is not None  # written before `placed` existed


class Placer:
    """Places (or finds again) the operation of one step."""

    def __init__(
        self,
        ctx: Context,
        w: StatusWriter,
        inputs: Inputs,
        plan: EnrollPlan,
        entry: ConfigEntry,
        kind: OrderKind,
        emit: Emit,
        stored: SecretState,
        ready: Verdict,
    ) -> None:
        self.ctx, self.w, self.inputs, self.plan = ctx, w, inputs, plan
        self.entry, self.kind, self.emit, self.stored, self.ready = (
            entry,
            kind,
            emit,
            stored,
            ready,
        )
        assert entry.client is not None
        self.client = entry.client

    async def _fail(self, exc: ScmError, doing: str) -> NoReturn:
        await scm_failure(self.ctx, self.w, self.emit, exc, doing, self.ready)

    async def _material(self, new_key: bool, marker: tuple[str, str] | None = None) -> KeyMaterial:
        try:
            return await material(
                self.ctx, self.inputs, self.plan, new_key=new_key, stored=self.stored, marker=marker
            )
        except SecretMissing:
            raise
        except SpecError as exc:
            await stall(self.w, self.emit, policies.REASON_INVALID_SPEC, str(exc))
            raise  # unreachable: stall raises

    def _marker_goes_with_key(self, operation: EnrollmentOperation, new_key: bool) -> bool:
        """A first order (no enrollment ever recorded) whose new key goes into a target Secret
        that does not exist yet: key and marker are persisted in one write, that Secret's
        create. The create fails if the Secret exists, so of two processes acting on the same
        view only one orders, as with the fenced status write every other operation makes."""
        inputs = self.inputs
        return (
            operation == EnrollmentOperation.ENROLL
            and new_key
            and self.w.status.enrollment is None
            and inputs.secret is None
            and inputs.pending is None
            and inputs.user_key is None
            and inputs.user_csr is None
        )

    async def start(self, action: Action, new_key: bool, why: str) -> KeyMaterial:
        """Persist the key and the marker, then call SCM once.

        The marker goes to status (one fenced write), except for a first order whose key goes
        into a new target Secret: there it is an annotation of that Secret, written with the
        key, and status records the order with its outcome (``_marker_goes_with_key``; a step
        that finds such a Secret without a status resumes the order: ``reconcile``).
        """
        w, status = self.w, self.w.status
        operation = operation_for(action, self.kind, new_key)
        new_key = new_key or operation == EnrollmentOperation.ENROLL
        with_key = self._marker_goes_with_key(operation, new_key)
        if with_key:
            await self._check_profile(self.plan.key_spec)  # before a key is made and persisted
            mat = await self._material(
                new_key, (first_order_marker(self.inputs.cert), self.plan.identity)
            )
        else:
            mat = await self._material(new_key)
            if mat.csr_info is not None:
                self.plan = policies.with_csr_names(self.plan, mat.csr_info)
            if operation != EnrollmentOperation.RENEW:
                await self._check_profile(mat.key_spec)
        if action == Action.ORDER and status.state == CertificateState.FAILED:
            w.forget_order()
        attempt = (status.enrollment.attempt or 0) if status.enrollment else 0
        source = self.kind.order_number(status) if operation != EnrollmentOperation.ENROLL else None
        status.enrollment = Enrollment(
            marker=policies.marker_for(self.inputs.cert.metadata.uid or w.name, attempt),
            started_at=w.now,
            operation=operation,
            attempt=attempt,
            source_id=source,
            placed=False,
            reason=why[:1024],
            identity=self.plan.identity,
        )
        w.record(STATE_OF[action], why)
        reason = REASON_OF[action]
        message = f"{reason.lower()} with SCM: {why}"
        w.conditions(ready=_keep(self.ready, reason, message), issuing=(True, reason, message))
        if not with_key:
            await w.flush()  # key and marker are persisted (fenced) before SCM is called
        await self._call(mat, new_key)
        return mat

    async def resume(self) -> KeyMaterial:
        """An operation whose answer was not recorded: find its result, or call SCM once."""
        enrollment = self.w.status.enrollment
        assert enrollment is not None and enrollment.marker
        operation = enrollment.operation or EnrollmentOperation.ENROLL
        new_key = self.inputs.pending is not None or not self.stored.key_matches
        mat = await self._material(new_key)
        if mat.csr_info is not None:
            self.plan = policies.with_csr_names(self.plan, mat.csr_info)
        try:
            found = await self._find(operation, enrollment, mat)
        except ScmError as exc:
            await self._fail(exc, "looking up an interrupted operation")
        if found is not None:
            self._placed(found, f"adopted the result of marker {enrollment.marker}")
            await self.w.flush()
            return mat
        await self._call(mat, new_key)
        return mat

    async def _find(
        self, operation: EnrollmentOperation, enrollment: Enrollment, mat: KeyMaterial
    ) -> OrderRef | None:
        status = self.w.status
        if operation == EnrollmentOperation.ENROLL:
            return await self._under_names(
                enrollment,
                lambda name: self.kind.find_by_marker(self.client, name, enrollment.marker),
            )
        source = enrollment.source_id
        if source is None:
            return None
        if operation == EnrollmentOperation.RENEW:
            prefix = enrollment.marker.rsplit(":", 1)[0] + ":"
            return await self._under_names(
                enrollment,
                lambda name: self.kind.find_renewal(self.client, name, source, prefix),
            )
        result = await self.kind.collect_once(self.client, status)
        if not isinstance(result, Issued):
            return OrderRef(source)  # pending again: SCM took the replacement
        try:
            leaf = pki.order_chain(pki.parse_pem_chain(result.material)).leaf
        except pki.PkiError:
            return None
        if pki.cert_info(leaf).fingerprint_sha256 == status.fingerprint:
            return None  # still the certificate to replace (with the same key: rotation Never)
        if mat.key is not None and pki.cert_matches_key(leaf, mat.key):
            return OrderRef(source)  # already re-issued for the new key
        return None

    async def _under_names(
        self, enrollment: Enrollment, lookup: Callable[[str], Awaitable[OrderRef | None]]
    ) -> OrderRef | None:
        """What ``lookup`` finds under the name recorded when the operation started, else under
        the spec's (a step that resumed it after an edit placed it under the edited name, maybe
        without recording that: it died, or SCM's answer was lost); the name it was found under
        is recorded."""
        for name in dict.fromkeys(n for n in (enrollment.identity, self.plan.identity) if n):
            found = await lookup(name)
            if found is not None:
                self.w.status.enrollment = enrollment.model_copy(update={"identity": name})
                return found
        return None

    async def _call(self, mat: KeyMaterial, new_key: bool) -> None:
        w, status = self.w, self.w.status
        enrollment = status.enrollment
        assert enrollment is not None
        operation = enrollment.operation or EnrollmentOperation.ENROLL
        if enrollment.identity != self.plan.identity:  # resumed after an edit of the name
            enrollment = status.enrollment = enrollment.model_copy(
                update={"identity": self.plan.identity}
            )
        ensure_leading(self.ctx)
        try:
            if operation == EnrollmentOperation.ENROLL:
                comments = policies.comments_with_marker(self.plan.comments, enrollment.marker)
                request = self.kind.enroll_request(self.plan, mat.csr_pem, self.entry, comments)
                ref = await self.kind.enroll(self.client, request)
            elif operation == EnrollmentOperation.RENEW:
                csr = mat.csr_pem if new_key else None
                ref = await self.kind.renew(self.client, status, csr)
            else:
                reason = (enrollment.reason or "replaced by sectigo-operator")[:512]
                number = self.kind.order_number(status)
                assert number is not None
                await self.kind.replace(self.client, number, mat.csr_pem, reason, self.plan)
                ref = OrderRef(number)
        except ScmResponseLost as exc:
            w.error(exc)
            await w.flush()
            raise RetryLater(
                min(max(1.0, exc.retry_after or 0.0), self.ctx.settings.retry_max_delay),
                f"SCM's answer was lost ({exc}); looking the result up by its marker",
            ) from None
        except ScmAuthenticationError as exc:
            await self._fail(exc, operation.value.lower() + "ing")
        except ScmPermanentError as exc:
            attempt = (enrollment.attempt or 0) + 1
            status.enrollment = Enrollment(marker="", attempt=attempt)
            w.record(CertificateState.FAILED, str(exc))
            await stall(
                w,
                self.emit,
                policies.REASON_SCM_ERROR,
                f"SCM refused the {operation.value.lower()}: {exc}",
                exc,
            )
        except ScmError as exc:
            await self._fail(exc, operation.value.lower() + "ing")
        self._placed(ref, f"{operation.value.lower()} accepted by SCM")
        metrics.order(w.config_name, self.plan.cert_type, operation.value)
        # Not written yet: the collect that follows at once usually finds the certificate issued,
        # and then one status write records the order and Issued together (the marker already
        # finds the order again should the process die before). A pending order writes it and
        # posts this Event (issuing._pending).
        w.placed_event = (
            EVENT_OF[operation],
            f"{operation.value.lower()} of {status.cert_unique_id} placed with SCM",
        )

    def _placed(self, ref: OrderRef, message: str) -> None:
        w, status = self.w, self.w.status
        enrollment = status.enrollment
        assert enrollment is not None
        w.placed = True
        self.kind.record(status, ref, self.entry.customer_uri)
        # What SCM was asked for: a placed order is collected (and compared with the spec
        # afterwards) with these, whatever the spec or the profile say by then.
        status.ordered_cert_type, status.ordered_term = self.plan.cert_type, self.plan.term
        status.collect_started_at = w.now
        status.failed_attempts = 0
        status.enrollment = enrollment.model_copy(
            update={"placed": True, "attempt": (enrollment.attempt or 0) + 1}
        )
        w.error(None)
        w.record(CertificateState.APPLIED, f"{message} ({status.cert_unique_id})")

    async def _check_profile(self, key_spec: pki.KeySpec) -> None:
        try:
            profiles = await self.entry.profile_list(
                self.kind.scm, self.ctx.settings.profile_cache_seconds
            )
        except ScmError as exc:
            await self._fail(exc, "reading the profiles")
        profile = next((p for p in profiles if p.id == self.plan.cert_type), None)
        view = (
            policies.ProfileView(profile.id, profile.name, tuple(profile.terms), profile.key_types)
            if profile
            else None
        )
        problems = policies.profile_problems(self.plan, key_spec, view)
        if problems:
            await stall(self.w, self.emit, policies.REASON_PROFILE_MISMATCH, "; ".join(problems))


def _keep(ready: Verdict, reason: str, message: str) -> Verdict:
    return ready if ready[0] else (False, reason, message)
