"""One step of one certificate: gather, decide, run the one job the decision names.

Called by the handlers on create, spec update and resume, after every ``RetryLater`` delay, and
by the scheduler when a renewal is due or a managed Secret changed. Level-based: the decision is
made from what is gathered now, so a missed event or a restart changes nothing; a step that finds
everything in order makes no SCM call and no write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from .. import metrics, policies
from ..configs import ConfigEntry
from ..k8s import KubeInvalid
from ..models import (
    CertificateState,
    CertificateStatus,
    ConditionStatus,
    Enrollment,
    EnrollmentOperation,
    SectigoCertificate,
    find_condition,
)
from ..policies import EnrollPlan, SpecError
from ..settings import ANNOTATION_SCM_ID
from . import deletion, importing, issuing, revocation
from .context import Context, Emit, WatchedSecret
from .decision import Action, Decision, Facts
from .facts import facts_of, plan_of
from .gather import Inputs, gather, pending_key_secret_name
from .kinds import OrderKind, OrderRef, kind_of
from .outcomes import RetryLater, SecretMissing, Stalled, wait_delay
from .readiness import REASON_EXPIRED, SecretState, inspect, ready_verdict
from .requests import Placer, placed
from .settled import settled
from .status import StatusWriter, Verdict, stall
from .trigger import NOT_ISSUED, decide, kept_order, key_gone
from .unreadable import report_unreadable


async def reconcile(
    ctx: Context, body: Mapping[str, Any], emit: Emit, retry: int = 0, *, first: bool = False
) -> None:
    """Take the certificate one step further; raise RetryLater or Stalled, or return when done.

    ``retry`` counts the consecutive RetryLater outcomes so far (Kopf's ``retry``); waits for a
    config, a profile or a Secret back off with it. ``first``: this process has not stepped the
    certificate before (``gather.nothing_to_read``).
    """
    try:
        inputs = await gather(ctx, body, first=first)
    except ValidationError as exc:  # stored before a rule this version checks was added
        await report_unreadable(ctx, body, emit, exc)
    cert = inputs.cert
    w = StatusWriter(ctx.kube, cert, inputs.now)
    kind = kind_of(cert.spec)
    if cert.metadata.deletion_timestamp is not None:
        await deletion.delete(ctx, inputs, kind, emit, retry)
        return
    if inputs.unrecorded_marker is not None:
        _resume_first_order(w, inputs.unrecorded_marker, inputs.unrecorded_identity)
    w.resource_version = await deletion.ensure_finalizer(ctx, cert) or w.resource_version
    # A target Secret holding only a first order's key holds no certificate: as if absent.
    holds_certificate = inputs.secret_is_ours and not inputs.pending_in_target
    stored = inspect(inputs.secret if holds_certificate else None, w.status.fingerprint)
    certificate_only = cert.spec.import_ is not None and cert.spec.private_key_secret_ref is None
    ready = ready_verdict(stored, w.status, cert.spec.secret_name, inputs.now, certificate_only)
    w.usable = ready
    plan, plan_error = plan_of(inputs)
    facts = facts_of(inputs, w, stored, plan, kind)
    decision = decide(facts)
    step = Step(ctx, w, inputs, kind, stored, ready, emit, retry, facts)
    try:
        await step.run(decision, plan, plan_error)
    except SecretMissing as exc:
        await step.wait(policies.REASON_SECRET_MISSING, f"{exc}; waiting for it")
    except KubeInvalid as exc:  # a name or label the API server refuses, stored before a rule
        message = (
            f"the API server refused a write for Secret {cert.spec.secret_name!r} "
            f"(check spec.secretName and spec.secretTemplate): {exc}"
        )
        await stall(w, emit, policies.REASON_INVALID_SPEC, message)
    finally:
        ctx.versions[(w.namespace, w.name)] = w.resource_version
        _observe(w.namespace, w.name, w.config_name, w.status)


def _resume_first_order(w: StatusWriter, marker: str, identity: str | None) -> None:
    """A first order's key (or certificate) is in a Secret of ours with its marker, and no
    status records the order (the process died, or the status write failed, after the key was
    persisted): the order is in flight from here, found at SCM by its marker or placed once."""
    w.status.enrollment = Enrollment(
        marker=marker,
        started_at=w.now,
        operation=EnrollmentOperation.ENROLL,
        attempt=0,
        placed=False,
        reason=NOT_ISSUED,
        identity=identity,
    )
    w.record(CertificateState.ENROLLING, f"{NOT_ISSUED}; resuming the order of marker {marker}")


def resume_settled(
    ctx: Context, body: Mapping[str, Any], secret: WatchedSecret | None, pending_key: bool
) -> bool:
    """At a restart: when the certificate is settled (``settled``), file its renewal and its
    metrics from the body alone and say True: no read, no parse, no write. Else False, and the
    caller runs the full step."""
    cert = SectigoCertificate.from_body(body)
    status = cert.status
    if status is None or not settled(cert, secret, pending_key, ctx.now()):
        return False
    ns, name = cert.metadata.namespace or "", cert.metadata.name
    ctx.versions[(ns, name)] = cert.metadata.resource_version or ""
    entry = ctx.configs.get(ns, cert.spec.config_ref.name)
    _file(ctx, cert, status, entry, kind_of(cert.spec))
    _observe(ns, name, cert.spec.config_ref.name, status)
    return True


PENDING_STATES = (
    CertificateState.APPLIED,
    CertificateState.REQUESTED,
    CertificateState.TIMED_OUT_STATE_SAVED,
)


def _observe(namespace: str, name: str, config_name: str, status: CertificateStatus) -> None:
    """The certificate's metrics, from the status as the step left it."""
    ready = find_condition(status.conditions, "Ready")
    issuing = find_condition(status.conditions, "Issuing")
    metrics.certificate(
        namespace,
        name,
        config_name,
        ready=ready is not None and ready.status == ConditionStatus.TRUE,
        issuing=issuing is not None and issuing.status == ConditionStatus.TRUE,
        not_after=status.not_after,
        renewal_time=status.renewal_time,
        pending_since=status.collect_started_at if status.state in PENDING_STATES else None,
    )


class Step:
    """The jobs a decision can name, sharing the step's inputs."""

    def __init__(
        self,
        ctx: Context,
        w: StatusWriter,
        inputs: Inputs,
        kind: OrderKind,
        stored: SecretState,
        ready: Verdict,
        emit: Emit,
        retry: int,
        facts: Facts,
    ) -> None:
        self.facts = facts
        self.ctx, self.w, self.inputs, self.kind = ctx, w, inputs, kind
        self.stored, self.ready, self.emit, self.retry = stored, ready, emit, retry

    async def wait(self, reason: str, message: str, delay: float | None = None) -> None:
        """Something else must happen first (config, profile, a Secret): report and retry."""
        ready = self.ready if self.ready[0] else (False, reason, message)
        self.w.conditions(ready=ready, issuing=(True, reason, message))
        await self.w.flush()
        raise RetryLater(
            wait_delay(self.ctx.settings, self.retry) if delay is None else delay, message
        )

    def _importing(self, entry: ConfigEntry) -> importing.Step:
        return importing.Step(
            self.ctx, self.w, self.inputs, entry, self.kind, self.stored, self.emit, self.ready
        )

    async def run(
        self, decision: Decision, plan: EnrollPlan | None, plan_error: SpecError | None
    ) -> None:
        w, action = self.w, decision.action
        if action == Action.WAIT_FOREIGN_SECRET:
            reason, message = decision.reason, decision.message
            changed = w.status.conditions is None or not any(
                c.type == "Ready" and c.reason == reason for c in w.status.conditions
            )
            w.conditions(ready=(False, reason, message))
            await w.flush()
            if changed:
                self.emit("Warning", reason, message)
            raise RetryLater(60.0, message)  # level-based: recovers once the Secret is gone
        if action == Action.STAY_FAILED:
            # No SCM call until the spec changes; Ready still follows the Secret (a certificate
            # from before a failed renewal stays Ready until it expires, then says so).
            before = find_condition(w.status.conditions, "Ready")
            if self.ready[0] or (before is not None and before.status == ConditionStatus.TRUE):
                w.set_ready(self.ready)
                await w.flush()
            if self.ready[0] and w.status.not_after is not None:
                self.ctx.wake(w.namespace, w.name, w.status.not_after)
            raise Stalled(decision.message)
        if action == Action.REVOKED:
            was = w.status.state == CertificateState.REVOKED
            if not was:  # once revoked, the conditions keep saying how (and nothing is written)
                w.record(CertificateState.REVOKED, decision.message)
                w.conditions(ready=(False, decision.reason, decision.message))
            await w.flush()
            if not was:
                self.emit("Warning", decision.reason, decision.message)
            self.ctx.orders.pop((w.namespace, w.name), None)
            self.ctx.wake(w.namespace, w.name, None)
            return
        if action == Action.READY:
            if w.status.state == CertificateState.REVOKING:  # the revokeRequest was withdrawn
                w.record(CertificateState.ISSUED, "the revocation was withdrawn before SCM did it")
            w.conditions(ready=self.ready)
            await w.flush()
            await self._drop_stray_key()
            self._schedule()
            return
        if action == Action.EXPIRED:
            was = any(c.reason == REASON_EXPIRED for c in w.status.conditions or ())
            w.conditions(ready=(False, REASON_EXPIRED, decision.message))
            await w.flush()
            if not was:
                self.emit("Warning", REASON_EXPIRED, decision.message)
            return
        if action == Action.REWRITE:
            assert self.stored.chain is not None  # the key is None for a keyless import
            await issuing.write(
                self.ctx, w, self.inputs, self.stored.chain, self.stored.key, self.emit
            )
            w.conditions(ready=self.ready)
            await w.flush()
            self._schedule()
            return
        if action == Action.ADOPT:
            entry = await self._require_entry()
            annotations = dict(self.inputs.secret.annotations) if self.inputs.secret else {}
            kept = kept_order(annotations)
            if kept is not None and kept[1] == entry.customer_uri:
                # a client certificate is collected by its backendCertId, which the Secret keeps
                order = OrderRef(kept[0], annotations.get(ANNOTATION_SCM_ID) or None)
                await importing.adopt(self._importing(entry), order)
                self._schedule()
                return
            # another SCM account's certificate: not one this config can follow
            await self.run(Decision(Action.ORDER, "NotIssued", NOT_ISSUED), plan, plan_error)
            return
        if action == Action.IMPORT:
            entry = await self._require_entry()
            await importing.run(self._importing(entry))
            self._schedule()
            return
        if action == Action.REVOKE:
            await revocation.revoke(
                self.ctx, w, self.inputs, await self._require_entry(), self.kind, self.emit
            )
            return
        if action == Action.RECOLLECT:
            entry = await self._require_entry()
            try:
                await issuing.collect(
                    self.ctx,
                    w,
                    self.inputs,
                    None,
                    entry,
                    self.kind,
                    self.stored,
                    self.emit,
                    self.ready,
                    recollect=True,
                )
            except issuing.KeyGone as gone_key:
                if self.facts.import_without_key:
                    await issuing.store(
                        self.ctx,
                        w,
                        self.inputs,
                        None,
                        entry,
                        self.kind,
                        gone_key.chain,
                        None,
                        self.emit,
                    )
                    self._schedule()
                    return
                name = self.inputs.cert.spec.secret_name
                gone = key_gone(
                    self.facts, f"the key in Secret {name!r} does not match its certificate"
                )
                ref = self.inputs.cert.spec.private_key_secret_ref
                if gone.action == Action.RECOLLECT:  # the user's key: nothing we can replace
                    if ref is None:
                        await stall(w, self.emit, policies.REASON_KEY_MISMATCH, gone.message)
                    # Its owner puts it right in a Secret we do not watch: look again, at the
                    # pace of a pending collect.
                    message = (
                        f"the key in Secret {ref.name!r} (spec.privateKeySecretRef) does not "
                        "match the certificate SCM issued; put that key back, or change the spec"
                    )
                    again = policies.backoff(self.retry + 1, cap=self.ctx.settings.max_poll_delay)
                    await stall(w, self.emit, policies.REASON_KEY_MISMATCH, message, again=again)
                await self.run(gone, plan, plan_error)
            self._schedule()
            return
        placed_order = action == Action.CONTINUE and placed(self.inputs, self.kind)
        plan = await self._require_plan(plan, plan_error, placed_order)
        entry = await self._require_entry()
        placer = Placer(
            self.ctx, w, self.inputs, plan, entry, self.kind, self.emit, self.stored, self.ready
        )
        known = None
        if action == Action.CONTINUE:
            if not placed(self.inputs, self.kind):
                known = await placer.resume()
        else:
            known = await placer.start(action, decision.new_key, decision.message)
        await issuing.collect(
            self.ctx,
            w,
            self.inputs,
            placer.plan,
            entry,
            self.kind,
            self.stored,
            self.emit,
            self.ready,
            known,
        )
        self._schedule()

    async def _drop_stray_key(self) -> None:
        """A pending key left behind (the process died between the Secret write and the
        delete) is a second copy of a private key: remove it once nothing is in flight."""
        if self.inputs.has_pending_key_secret and not self.inputs.in_flight:
            await self.ctx.kube.delete_secret(
                self.w.namespace, pending_key_secret_name(self.w.name)
            )

    async def _require_plan(
        self, plan: EnrollPlan | None, error: SpecError | None, placed_order: bool = False
    ) -> EnrollPlan:
        """The plan of the step; ``placed_order``: the step collects an order SCM has, which
        needs no SectigoProfile (it is collected with the profile it was placed with)."""
        if error is not None:
            await stall(self.w, self.emit, policies.REASON_INVALID_SPEC, str(error))
        entry = await self._require_entry()
        ordered = self.w.status.ordered_cert_type
        if self.inputs.profile_problem is not None and placed_order and ordered is not None:
            try:
                return policies.plan_enrollment(self.inputs.cert.spec, entry.spec, ordered)
            except SpecError as exc:
                await stall(self.w, self.emit, policies.REASON_INVALID_SPEC, str(exc))
        if self.inputs.profile_problem is not None:
            await self.wait(policies.REASON_PROFILE_NOT_READY, self.inputs.profile_problem)
        assert plan is not None
        return plan

    async def _require_entry(self) -> ConfigEntry:
        inputs, spec = self.inputs, self.inputs.cert.spec
        entry = inputs.entry
        if entry is None or not entry.ready:
            message = f"SectigoConfig {spec.config_ref.name!r} is not Ready"
            if entry is None:
                message += " (not found, or not checked yet)"
            else:
                message += f": {entry.reason}: {entry.message}"
            await self.wait(policies.REASON_CONFIG_NOT_READY, message)
        assert entry is not None
        return entry

    def _schedule(self) -> None:
        _file(self.ctx, self.inputs.cert, self.w.status, self.inputs.entry, self.kind)


def _file(
    ctx: Context,
    cert: SectigoCertificate,
    status: CertificateStatus,
    entry: ConfigEntry | None,
    kind: OrderKind,
) -> None:
    """Wake the certificate when its renewal is due (or, without auto renewal, at expiry), and
    index its order for the SCM drift check. (Without the config entry, auto renewal is assumed:
    at worst one early step, which then files the expiry.)"""
    ns, name, spec = cert.metadata.namespace or "", cert.metadata.name, cert.spec
    number = kind.order_number(status)
    if number is not None and status.fingerprint is not None:
        ctx.orders[(ns, name)] = (spec.config_ref.name, kind.scm, number)
    auto = spec.effective_renewal(entry.spec).auto_renew if entry else True
    when = status.renewal_time if auto else status.not_after
    ctx.wake(ns, name, when)
