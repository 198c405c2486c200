"""Issuance of one SectigoCertificate: key, CSR, enroll, collect, Secret.

``reconcile`` is level-based: every call re-reads the certificate's status (the hand-off between
calls), the target Secret and the config, decides with the pure functions of ``policies`` and
performs the next step. It persists before it calls out (style.md, habit 4):

1. the private key is written to a pending-key Secret before any order exists;
2. the enrollment marker is written to ``status.enrollment`` before the enroll call, and goes into
   the order's ``comments``;
3. the SCM id is written to status right after the enroll answer.

If the operator dies anywhere in between, the next call finds the marker and adopts the order it
finds at SCM instead of ordering again, and still has the key that matches it. While SCM has not
issued yet, ``reconcile`` raises :class:`RetryLater` with the delay until the next collect: no
worker blocks and no object is busy-polled. Nothing here imports kopf: the handlers translate
:class:`RetryLater` and :class:`Stalled` into Kopf's exceptions.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from cryptography import x509
from kubernetes.client.exceptions import ApiException

from . import pki, policies
from .configs import ConfigEntry, ConfigRegistry, Kind
from .k8s import Kube, SecretData
from .models import (
    CertificateState,
    CertificateStatus,
    CertificateType,
    Condition,
    ConditionStatus,
    Enrollment,
    EnrollmentOperation,
    SectigoCertificate,
    append_history,
    cert_unique_id,
    find_condition,
    set_condition,
    status_patch,
)
from .models import ScmError as StatusError
from .models.profile import SectigoProfile
from .policies import EnrollPlan, SpecError
from .scm import (
    CustomFieldValue,
    Issued,
    Pending,
    ScmAuthenticationError,
    ScmError,
    ScmOrderFailedError,
    ScmPermanentError,
    ScmResponseLost,
    SmimeEnrollRequest,
    SslEnrollRequest,
)
from .settings import (
    ANNOTATION_CERT_UNIQUE_ID,
    ANNOTATION_CN,
    ANNOTATION_SCM_ID,
    ANNOTATION_SERIAL,
    LABEL_CERTIFICATE,
    LABEL_MANAGED_BY,
    LABEL_PENDING_KEY,
    MANAGED_BY,
    OperatorSettings,
)

PLURAL = SectigoCertificate.crd.plural

Emit = Callable[[str, str, str], None]
"""``emit(type, reason, message)``: post a Kubernetes Event about the certificate."""


class RetryLater(Exception):
    """Look at the certificate again after ``delay`` seconds (status already written)."""

    def __init__(self, delay: float, message: str) -> None:
        self.delay = delay
        super().__init__(message)


class Stalled(Exception):
    """Only a change of spec (or of what it references) can help; status already says why."""


class SecretMissing(SpecError):
    """A Secret the spec references does not exist, or lacks the key: wait for it, do not stall.

    GitOps tools apply a certificate and its Secrets in any order, and creating or fixing the
    Secret is no change of spec, so a Kopf PermanentError would never be retried.
    """


@dataclass
class Context:
    """What ``reconcile`` needs from the running operator."""

    kube: Kube
    configs: ConfigRegistry
    settings: OperatorSettings
    now: Callable[[], datetime]


# --------------------------------------------------------------------------------------------
# status


class StatusWriter:
    """The certificate's status in memory, written to the API with one merge patch per step."""

    def __init__(self, kube: Kube, cert: SectigoCertificate, now: datetime) -> None:
        self.kube = kube
        self.namespace = cert.metadata.namespace or ""
        self.name = cert.metadata.name
        self.generation = cert.metadata.generation
        self.limit = cert.spec.history_limit
        self.config_name = cert.spec.config_ref.name
        self.status = cert.status or CertificateStatus()
        self.now = now
        self.cleared: set[str] = set()
        """camelCase status fields to delete with the next flush."""

    def record(self, state: CertificateState, message: str | None = None) -> None:
        """Set ``state`` and append it to the history when it changed."""
        if self.status.state != state:
            self.status.history = append_history(
                self.status.history, state.value, self.now, message, self.limit
            )
        self.status.state = state

    def conditions(
        self,
        *,
        ready: tuple[bool, str, str],
        issuing: tuple[bool, str, str] | None = None,
        stalled: tuple[bool, str, str] | None = None,
    ) -> None:
        for type_, value in (("Ready", ready), ("Issuing", issuing), ("Stalled", stalled)):
            flag, reason, message = value or (False, ready[1], ready[2])
            self.status.conditions = set_condition(
                self.status.conditions,
                Condition(
                    type=type_,
                    status=ConditionStatus.TRUE if flag else ConditionStatus.FALSE,
                    reason=reason,
                    message=message[:1024],
                    observed_generation=self.generation,
                ),
                self.now,
            )

    def error(self, exc: ScmError | None) -> None:
        self.status.last_error = (
            None
            if exc is None
            else StatusError(
                code=exc.code,
                description=(exc.description or str(exc))[:1024],
                http_status=exc.http_status,
                timestamp=self.now,
            )
        )

    async def flush(self, *clear: str) -> None:
        self.status.observed_generation = self.generation
        await self.kube.patch_status(
            PLURAL,
            self.namespace,
            self.name,
            status_patch(self.status, clear=(*clear, *sorted(self.cleared))),
        )
        self.cleared.clear()

    def forget_failed_order(self) -> None:
        """Drop a failed (declined, rejected) order so that a new attempt orders again.

        The next marker uses the next attempt number, so the failed order is never adopted.
        """
        status = self.status
        status.ssl_id = status.renew_id = status.order_number = status.backend_cert_id = None
        status.cert_unique_id = status.collect_started_at = status.scm_status = None
        self.cleared |= {
            "sslId",
            "renewId",
            "orderNumber",
            "backendCertId",
            "certUniqueId",
            "collectStartedAt",
            "scmStatus",
        }
        attempt = status.enrollment.attempt if status.enrollment else 0
        status.enrollment = Enrollment(marker="", attempt=attempt or 0)


# --------------------------------------------------------------------------------------------
# helpers


def pending_key_secret_name(cert_name: str) -> str:
    name = f"{cert_name}-sectigo-pending-key"
    if len(name) <= 253:
        return name
    return f"{cert_name[:200]}-{hashlib.sha256(cert_name.encode()).hexdigest()[:10]}-pending-key"


def is_managed_by(secret: SecretData, cert_name: str) -> bool:
    return (
        secret.labels.get(LABEL_MANAGED_BY) == MANAGED_BY
        and secret.labels.get(LABEL_CERTIFICATE) == cert_name
    )


def _owner(cert: SectigoCertificate) -> dict[str, Any]:
    return {
        "apiVersion": cert.api_version,
        "kind": cert.kind,
        "name": cert.metadata.name,
        "uid": cert.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


@dataclass(frozen=True)
class KeyMaterial:
    """The key and CSR of the order (``key`` is optional in type only: the CRD demands one)."""

    key: pki.PrivateKey | None
    csr_pem: str
    key_spec: pki.KeySpec
    csr_info: pki.CsrInfo | None = None
    """Set when the user supplied the CSR: its names override the spec's."""


async def _user_secret_value(kube: Kube, namespace: str, name: str, key: str, field: str) -> bytes:
    secret = await kube.get_secret(namespace, name)
    if secret is None:
        raise SecretMissing(field, f"Secret {name!r} not found")
    value = secret.data.get(key)
    if not value:
        raise SecretMissing(field, f"Secret {name!r} has no key {key!r}")
    return value


async def prepare_key(ctx: Context, cert: SectigoCertificate, plan: EnrollPlan) -> KeyMaterial:
    """The key and CSR for a new order, persisting a generated key before it is used."""
    spec, ns = cert.spec, cert.metadata.namespace or ""
    key: pki.PrivateKey | None = None
    if spec.private_key_secret_ref is not None:
        ref = spec.private_key_secret_ref
        raw = await _user_secret_value(ctx.kube, ns, ref.name, ref.key, "spec.privateKeySecretRef")
        try:
            key = await _load_key(raw)
        except pki.PkiError as exc:
            raise SpecError("spec.privateKeySecretRef", str(exc)) from None
    csr_text: str | None = spec.csr
    if spec.csr_secret_ref is not None:
        ref2 = spec.csr_secret_ref
        csr_text = (
            await _user_secret_value(ctx.kube, ns, ref2.name, ref2.key, "spec.csrSecretRef")
        ).decode(errors="replace")
    if csr_text is not None:
        field = "spec.csr" if spec.csr is not None else "spec.csrSecretRef"
        try:
            csr = pki.load_csr(csr_text)
            if key is not None:
                pki.check_key_matches(csr, key)
        except pki.KeyMismatch as exc:
            raise SpecError(
                "spec.privateKeySecretRef", f"the key does not match the CSR: {exc}"
            ) from None
        except pki.PkiError as exc:
            raise SpecError(field, str(exc)) from None
        info = pki.csr_info(csr)
        return KeyMaterial(key, pki.csr_for_scm(csr), info.key_spec, info)
    if key is None:
        enrollment = cert.status.enrollment if cert.status else None
        in_flight = bool(enrollment and enrollment.marker)
        key = await _pending_key(ctx, cert, plan.key_spec, keep_existing=in_flight)
    csr_pem = await asyncio.to_thread(pki.build_csr, key, plan.csr_request)
    return KeyMaterial(key, csr_pem, pki.key_spec_of(key))


async def _pending_key(
    ctx: Context, cert: SectigoCertificate, spec: pki.KeySpec, *, keep_existing: bool
) -> pki.PrivateKey:
    """The key waiting for this certificate's order: reuse the persisted one, or make one.

    With ``keep_existing`` (an enrollment may already be at SCM with the persisted key) the
    persisted key is reused even if ``spec.privateKey`` changed meanwhile: replacing it could
    leave the adopted order without its key.
    """
    ns, name = cert.metadata.namespace or "", pending_key_secret_name(cert.metadata.name)
    existing = await ctx.kube.get_secret(ns, name)
    if existing is not None and not is_managed_by(existing, cert.metadata.name):
        raise SpecError(
            "metadata.name",
            f"Secret {name!r} (where this certificate keeps its pending private key) exists and "
            "is not managed by the operator; delete or rename that Secret",
        )
    if existing is not None:
        raw = existing.data.get("tls.key")
        try:
            key = await _load_key(raw, ours=True) if raw else None
        except pki.PkiError:
            key = None  # unreadable: replaced below (no order can use a key nobody can read)
        if key is not None and (keep_existing or pki.key_spec_of(key) == spec):
            return key
    key = await asyncio.to_thread(pki.generate_private_key, spec)
    pem = pki.private_key_to_pem(key, "PKCS8")
    await ctx.kube.write_secret(
        ns,
        name,
        type="Opaque",
        data={"tls.key": pem},
        labels={
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_CERTIFICATE: cert.metadata.name,
            LABEL_PENDING_KEY: "true",
        },
        annotations={},
        owner=_owner(cert),
        resource_version=existing.resource_version if existing else None,
    )
    return key


def _enroll_request(
    plan: EnrollPlan, csr_pem: str, config: ConfigEntry, comments: str
) -> SslEnrollRequest | SmimeEnrollRequest:
    custom = [CustomFieldValue(name=n, value=v) for n, v in plan.custom_fields] or None
    if plan.kind == CertificateType.CLIENT:
        return SmimeEnrollRequest(
            org_id=config.spec.org_id,
            csr=csr_pem,
            cert_type=plan.cert_type,
            term=plan.term,
            email=plan.email or "",
            first_name=plan.first_name or "",
            middle_name=plan.middle_name,
            last_name=plan.last_name or "",
            phone=plan.phone,
            secondary_emails=list(plan.secondary_emails) or None,
            custom_fields=custom,
            common_name=plan.csr_request.common_name or None,
            eppn=plan.eppn,
            upn=plan.upn,
            comments=comments,
        )
    return SslEnrollRequest(
        org_id=config.spec.org_id,
        csr=csr_pem,
        cert_type=plan.cert_type,
        term=plan.term,
        subj_alt_names=list(plan.sans),
        comments=comments,
        external_requester=plan.external_requester,
        custom_fields=custom,
        dcv_mode=plan.dcv_mode,
        dcv_email=plan.dcv_email,
        number_servers=plan.number_servers,
        server_type=plan.server_type,
    )


# --------------------------------------------------------------------------------------------
# the reconcile loop body


async def reconcile(ctx: Context, body: Mapping[str, Any], emit: Emit, retry: int = 0) -> None:
    """Take the certificate one step further; raise RetryLater or Stalled, or return when Ready.

    ``retry`` counts the consecutive RetryLater outcomes so far (Kopf's ``retry``); waits for a
    config or profile back off with it.
    """
    cert = SectigoCertificate.from_body(body)
    w = StatusWriter(ctx.kube, cert, ctx.now())
    spec, status = cert.spec, w.status
    ns = cert.metadata.namespace or ""

    if spec.import_ is not None:
        # Never order a new certificate for a resource that asks to adopt an existing one.
        message = (
            "spec.import (adopting an existing SCM certificate) is not supported by this "
            "operator version yet; nothing was ordered"
        )
        await _stall(w, emit, policies.REASON_NOT_SUPPORTED_YET, message)
        raise Stalled(message)
    if status.observed_generation != cert.metadata.generation:
        ignored = policies.unsupported_fields(
            spec,
            {
                "renewRequest": status.last_renew_request_id,
                "replaceRequest": status.last_replace_request_id,
                "revokeRequest": status.last_revoke_request_id,
            },
        )
        if ignored:
            emit(
                "Warning",
                policies.REASON_NOT_SUPPORTED_YET,
                f"not acted on by this operator version yet: {', '.join(ignored)}",
            )

    secret = await ctx.kube.get_secret(ns, spec.secret_name)
    if secret is not None and not is_managed_by(secret, cert.metadata.name):
        message = (
            f"Secret {spec.secret_name!r} exists and is not managed by this certificate; "
            "the operator never overwrites it. Delete it or choose another spec.secretName."
        )
        w.conditions(
            ready=(False, policies.REASON_SECRET_NOT_MANAGED, message),
            stalled=(True, policies.REASON_SECRET_NOT_MANAGED, message),
        )
        await w.flush()
        emit("Warning", policies.REASON_SECRET_NOT_MANAGED, message)
        raise RetryLater(60.0, message)  # level-based: recovers once the Secret is gone

    current = _current_certificate(secret, status.fingerprint)
    if status.state == CertificateState.ISSUED and current is not None:
        drift = policies.spec_drift(current, spec)
        if drift:
            # Re-issuing for a changed spec is a replace, a day-2 operation of a later release:
            # say so instead of reporting Ready for names the certificate does not carry.
            message = (
                "; ".join(drift)
                + ". Re-issuing after a spec change is not supported by this operator version "
                "yet; the Secret keeps the certificate issued for the previous spec."
            )
            w.conditions(
                ready=(False, policies.REASON_SPEC_CHANGED, message),
                stalled=(True, policies.REASON_NOT_SUPPORTED_YET, message),
            )
            await w.flush()
            return
        ready = find_condition(status.conditions, "Ready")
        if (
            ready is None
            or ready.status != ConditionStatus.TRUE
            or status.observed_generation != cert.metadata.generation
        ):
            message = f"certificate {status.cert_unique_id} is in Secret {spec.secret_name!r}"
            w.conditions(
                ready=(True, policies.REASON_ISSUED, message),
                issuing=(False, policies.REASON_ISSUED, message),
            )
            await w.flush()
        return

    entry = ctx.configs.get(ns, spec.config_ref.name)
    if entry is None or not entry.ready:
        reason = policies.REASON_CONFIG_NOT_READY
        message = f"SectigoConfig {spec.config_ref.name!r} is not Ready"
        if entry is None:
            message += " (not found, or not checked yet)"
        else:
            message += f": {entry.reason}: {entry.message}"
        w.conditions(ready=(False, reason, message), issuing=(True, reason, message))
        await w.flush()
        raise RetryLater(_wait_delay(ctx, retry), message)

    profile_id = None
    if spec.profile_ref is not None:
        profile_id = await _profile_id(ctx, w, ns, spec.profile_ref.name, retry)
    try:
        plan = policies.plan_enrollment(spec, entry.spec, profile_id)
    except SpecError as exc:
        await _stall(w, emit, policies.REASON_INVALID_SPEC, str(exc))
        raise Stalled(str(exc)) from None

    if status.state == CertificateState.FAILED and status.observed_generation != (
        cert.metadata.generation
    ):
        w.forget_failed_order()  # the spec changed since the order failed: a new attempt
    is_client = spec.certificate_type == CertificateType.CLIENT
    has_order = status.backend_cert_id if is_client else status.ssl_id
    try:
        known_key = await _order(ctx, w, cert, plan, entry, emit) if not has_order else None
        await _collect(ctx, w, cert, plan, entry, secret, emit, known_key)
    except SecretMissing as exc:
        message = f"{exc}; waiting for it"
        reason = policies.REASON_SECRET_MISSING
        w.conditions(ready=(False, reason, message), issuing=(True, reason, message))
        await w.flush()
        delay = _wait_delay(ctx, retry)
        raise RetryLater(delay, message) from None


async def _profile_id(ctx: Context, w: StatusWriter, namespace: str, name: str, retry: int) -> int:
    """The SCM profile id of a SectigoProfile; waits (RetryLater) until it has been fetched."""
    body = await ctx.kube.get_object("sectigoprofiles", namespace, name)
    profile = SectigoProfile.from_body(body) if body else None
    found = profile.status.profile if profile and profile.status else None
    if found is None or found.id is None:
        reason = policies.REASON_PROFILE_NOT_READY
        message = f"SectigoProfile {name!r} " + (
            "not found" if body is None else "has not been fetched from SCM yet"
        )
        w.conditions(ready=(False, reason, message), issuing=(True, reason, message))
        await w.flush()
        delay = _wait_delay(ctx, retry)
        raise RetryLater(delay, message)
    return found.id


def _current_certificate(secret: SecretData | None, fingerprint: str | None) -> pki.CertInfo | None:
    """The Secret's certificate if it is the one status says was issued."""
    if secret is None or fingerprint is None:
        return None
    crt = secret.data.get("tls.crt")
    if not crt:
        return None
    try:
        info = pki.cert_info(pki.order_chain(pki.parse_pem_chain(crt)).leaf)
    except pki.PkiError:
        return None
    return info if info.fingerprint_sha256 == fingerprint else None


async def _stall(
    w: StatusWriter, emit: Emit, reason: str, message: str, error: ScmError | None = None
) -> None:
    if error is not None:
        w.error(error)
    w.conditions(
        ready=(False, reason, message),
        issuing=(False, reason, message),
        stalled=(True, reason, message),
    )
    await w.flush()
    emit("Warning", reason, message)


async def _order(
    ctx: Context,
    w: StatusWriter,
    cert: SectigoCertificate,
    plan: EnrollPlan,
    entry: ConfigEntry,
    emit: Emit,
) -> pki.PrivateKey | None:
    """Find the order of an interrupted enrollment, or enroll (exactly once per marker).

    Returns the private key of a new order (so the Secret can be written without reading it
    back), or None when an existing order was adopted.
    """
    status = w.status
    assert entry.client is not None
    is_client = plan.kind == CertificateType.CLIENT
    try:
        material = await prepare_key(ctx, cert, plan)
        kind: Kind = "smime" if is_client else "ssl"
        profiles = await entry.profile_list(kind, ctx.settings.profile_cache_seconds)
    except SecretMissing:
        raise
    except SpecError as exc:
        await _stall(w, emit, policies.REASON_INVALID_SPEC, str(exc))
        raise Stalled(str(exc)) from None
    except ScmError as exc:
        await _scm_failure(ctx, w, emit, exc, "reading the profiles")
    if material.csr_info is not None:
        plan = policies.with_csr_names(plan, material.csr_info)

    enrollment = status.enrollment
    attempt = (enrollment.attempt or 0) if enrollment is not None else 0
    if enrollment is not None and enrollment.marker:
        # An earlier enroll may have reached SCM: adopt its order before judging the spec
        # again, so a paid order is never abandoned (nor ordered twice).
        try:
            found = await _find_order(entry, plan, enrollment.marker)
        except ScmError as exc:
            await _scm_failure(ctx, w, emit, exc, "looking up an interrupted order")
        if found is not None:
            _record_order(w, entry, is_client, *found)
            status.enrollment = Enrollment(
                marker=enrollment.marker,
                started_at=enrollment.started_at,
                operation=enrollment.operation,
                attempt=attempt + 1,
            )
            w.record(CertificateState.APPLIED, f"adopted the order of marker {enrollment.marker}")
            await w.flush()
            return None

    profile = next((p for p in profiles if p.id == plan.cert_type), None)
    view = (
        policies.ProfileView(profile.id, profile.name, tuple(profile.terms), profile.key_types)
        if profile
        else None
    )
    problems = policies.profile_problems(plan, material.key_spec, view)
    if problems:
        message = "; ".join(problems)
        await _stall(w, emit, policies.REASON_PROFILE_MISMATCH, message)
        raise Stalled(message)

    marker = policies.marker_for(cert.metadata.uid or cert.metadata.name, attempt)
    status.enrollment = Enrollment(
        marker=marker, started_at=w.now, operation=EnrollmentOperation.ENROLL, attempt=attempt
    )
    w.record(CertificateState.ENROLLING)
    w.conditions(
        ready=(False, policies.REASON_ENROLLING, "enrolling with SCM"),
        issuing=(True, policies.REASON_ENROLLING, "enrolling with SCM"),
    )
    await w.flush()  # the marker is persisted before SCM is called

    request = _enroll_request(
        plan, material.csr_pem, entry, policies.comments_with_marker(plan.comments, marker)
    )
    try:
        if isinstance(request, SmimeEnrollRequest):
            order = await entry.client.smime.enroll(request)
            _record_order(w, entry, True, order.order_number, order.backend_cert_id, None)
        else:
            result = await entry.client.ssl.enroll(request)
            _record_order(w, entry, False, result.ssl_id, None, result.renew_id)
    except ScmResponseLost as exc:
        w.error(exc)
        await w.flush()
        raise RetryLater(
            max(1.0, exc.retry_after or 0.0),
            f"enroll answer lost ({exc}); looking the order up by its marker",
        ) from None
    except ScmAuthenticationError as exc:
        await _scm_failure(ctx, w, emit, exc, "enrolling")
    except ScmPermanentError as exc:
        # A new attempt (after a spec change) must not adopt this failed request's marker.
        status.enrollment = Enrollment(marker="", attempt=attempt + 1)
        w.record(CertificateState.FAILED, str(exc))
        await _stall(w, emit, policies.REASON_SCM_ERROR, f"SCM refused the order: {exc}", exc)
        raise Stalled(str(exc)) from None
    except ScmError as exc:
        await _scm_failure(ctx, w, emit, exc, "enrolling")
    status.enrollment = Enrollment(
        marker=marker, started_at=w.now, operation=EnrollmentOperation.ENROLL, attempt=attempt + 1
    )
    w.record(CertificateState.APPLIED, f"order placed with SCM ({status.cert_unique_id})")
    await w.flush()
    emit("Normal", "Enrolled", f"order {status.cert_unique_id} placed with SCM")
    return material.key


async def _find_order(
    entry: ConfigEntry, plan: EnrollPlan, marker: str
) -> tuple[int, str | None, str | None] | None:
    assert entry.client is not None
    if plan.kind == CertificateType.CLIENT:
        item = await entry.client.find_smime_order_by_marker(plan.email or "", marker)
        if item is None or item.order_number is None:
            return None
        return item.order_number, item.backend_cert_id or str(item.order_number), None
    details = await entry.client.find_ssl_order_by_marker(plan.identity, marker)
    ssl_id = (details.id or details.ssl_id) if details is not None else None
    if ssl_id is None:
        return None
    return ssl_id, None, None  # details carry no renewId


def _record_order(
    w: StatusWriter,
    entry: ConfigEntry,
    is_client: bool,
    number: int,
    backend_cert_id: str | None,
    renew_id: str | None,
) -> None:
    status = w.status
    if is_client:
        status.order_number = number
        status.backend_cert_id = backend_cert_id or str(number)
    else:
        status.ssl_id = number
        status.renew_id = renew_id
    status.cert_unique_id = cert_unique_id(number, entry.customer_uri)
    status.collect_started_at = w.now
    status.failed_attempts = 0
    w.error(None)


async def _scm_failure(
    ctx: Context, w: StatusWriter, emit: Emit, exc: ScmError, doing: str
) -> NoReturn:
    """Record an SCM failure and raise RetryLater with backoff (or Stalled).

    Rejected credentials are the config's problem, not the certificate's: the certificate waits
    (the config is re-checked and reports it) and recovers once the Secret is fixed.
    """
    if isinstance(exc, ScmAuthenticationError):
        ctx.configs.mark_failed(w.namespace, w.config_name, exc)
        message = f"SCM rejected the credentials while {doing}: {exc}; waiting for the config"
        w.error(exc)
        reason = policies.REASON_CONFIG_NOT_READY
        w.conditions(ready=(False, reason, message), issuing=(True, reason, message))
        await w.flush()
        raise RetryLater(ctx.settings.wait_config_max_delay, message)
    if isinstance(exc, ScmPermanentError):
        await _stall(w, emit, policies.REASON_SCM_ERROR, f"SCM error while {doing}: {exc}", exc)
        raise Stalled(str(exc))
    attempts = (w.status.failed_attempts or 0) + 1
    w.status.failed_attempts = attempts
    w.error(exc)
    message = f"SCM error while {doing}: {exc}; retrying"
    w.conditions(
        ready=(False, policies.REASON_SCM_UNAVAILABLE, message),
        issuing=(True, policies.REASON_SCM_UNAVAILABLE, message),
    )
    await w.flush()
    emit("Warning", policies.REASON_SCM_UNAVAILABLE, message)
    delay = policies.backoff(attempts, base=2.0, cap=ctx.settings.retry_max_delay)
    if exc.retry_after:
        delay = max(delay, exc.retry_after)
    raise RetryLater(delay, message)


async def _collect(
    ctx: Context,
    w: StatusWriter,
    cert: SectigoCertificate,
    plan: EnrollPlan,
    entry: ConfigEntry,
    secret: SecretData | None,
    emit: Emit,
    known_key: pki.PrivateKey | None = None,
) -> None:
    status = w.status
    assert entry.client is not None
    collect_settings = entry.spec.collect
    try:
        if plan.kind == CertificateType.CLIENT:
            assert status.backend_cert_id is not None
            result = await entry.client.smime.collect_once(
                status.backend_cert_id, policies.CHAIN_FORMAT
            )
        else:
            assert status.ssl_id is not None
            result = await entry.client.ssl.collect_once(status.ssl_id, policies.CHAIN_FORMAT)
    except ScmOrderFailedError as exc:
        status.scm_status = getattr(exc, "status", None) or status.scm_status
        w.record(CertificateState.FAILED, str(exc))
        await _stall(w, emit, policies.REASON_ORDER_FAILED, f"SCM order failed: {exc}", exc)
        raise Stalled(str(exc)) from None
    except ScmError as exc:
        await _scm_failure(ctx, w, emit, exc, "collecting")
    if isinstance(result, Pending):
        await _pending(ctx, w, result, collect_settings.loop_period, collect_settings.max_timeout)
        return
    assert isinstance(result, Issued)
    await _store(ctx, w, cert, plan, entry, secret, result, emit, known_key)


async def _pending(
    ctx: Context, w: StatusWriter, result: Pending, loop_period: int, max_timeout: int
) -> None:
    status = w.status
    if result.status:
        status.scm_status = result.status
    started = status.collect_started_at or w.now
    elapsed = (w.now - started).total_seconds()
    approval = result.awaiting_approval
    if policies.timed_out(started, w.now, max_timeout):
        w.record(
            CertificateState.TIMED_OUT_STATE_SAVED,
            f"not issued after {max_timeout}s ({result.description}); state saved, still trying",
        )
        reason = policies.REASON_TIMED_OUT_STATE_SAVED
        message = (
            f"SCM has not issued {status.cert_unique_id} within maxTimeout ({max_timeout}s); "
            "the order is saved and collected again with backoff"
        )
    elif approval:
        w.record(CertificateState.REQUESTED, "waiting for an SCM administrator's approval")
        reason = policies.REASON_AWAITING_APPROVAL
        message = f"order {status.cert_unique_id} waits for approval by an SCM administrator"
    else:
        reason = policies.REASON_PENDING
        message = f"order {status.cert_unique_id} is being processed by SCM ({result.description})"
    if approval and reason == policies.REASON_TIMED_OUT_STATE_SAVED:
        reason, message = policies.REASON_AWAITING_APPROVAL, message + "; awaiting approval"
    w.conditions(ready=(False, reason, message), issuing=(True, reason, message))
    await w.flush()
    delay = policies.poll_delay(
        loop_period,
        elapsed,
        max_timeout,
        awaiting_approval=approval,
        cap=ctx.settings.max_poll_delay,
    )
    raise RetryLater(delay, message)


async def _store(
    ctx: Context,
    w: StatusWriter,
    cert: SectigoCertificate,
    plan: EnrollPlan,
    entry: ConfigEntry,
    secret: SecretData | None,
    issued: Issued,
    emit: Emit,
    known_key: pki.PrivateKey | None = None,
) -> None:
    """Write the Secret from the collected chain and the key, then mark the certificate Ready."""
    status, spec, ns = w.status, cert.spec, cert.metadata.namespace or ""
    try:
        chain = pki.order_chain(pki.parse_pem_chain(issued.material))
    except pki.PkiError as exc:
        message = f"SCM returned an unusable certificate: {exc}"
        await _stall(w, emit, policies.REASON_SCM_ERROR, message)
        raise Stalled(message) from None
    key_pem, key, pending = await _key_for(ctx, w, cert, chain.leaf, secret, emit, known_key)
    if not pki.cert_matches_key(chain.leaf, key):
        message = "the certificate SCM issued does not match the private key of this order"
        await _stall(w, emit, policies.REASON_KEY_MISMATCH, message)
        raise Stalled(message)
    info = pki.cert_info(chain.leaf)
    data = {"tls.crt": pki.chain_to_pem(chain).encode()}
    ca = pki.ca_pem(chain)
    if ca:
        data["ca.crt"] = ca.encode()
    data["tls.key"] = key_pem
    template = spec.secret_template
    labels = {
        **(template.labels or {} if template else {}),
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_CERTIFICATE: cert.metadata.name,
    }
    annotations = {
        **(template.annotations or {} if template else {}),
        ANNOTATION_CERT_UNIQUE_ID: status.cert_unique_id or "",
        ANNOTATION_SCM_ID: str(status.ssl_id or status.backend_cert_id or ""),
        ANNOTATION_SERIAL: info.serial_number,
        ANNOTATION_CN: info.common_name or "",
    }
    try:
        await ctx.kube.write_secret(
            ns,
            spec.secret_name,
            type="kubernetes.io/tls",
            data=data,
            labels=labels,
            annotations=annotations,
            resource_version=secret.resource_version if secret else None,
        )
    except ApiException as exc:
        if exc.status == 409:
            raise RetryLater(1.0, f"Secret {spec.secret_name!r} changed meanwhile") from None
        if exc.status == 422:
            message = (
                f"the API server refused Secret {spec.secret_name!r} (check spec.secretTemplate): "
                f"{_api_reason(exc)}"
            )
            await _stall(w, emit, policies.REASON_INVALID_SPEC, message)
            raise Stalled(message) from None
        raise
    days = spec.effective_renewal(entry.spec).expiry_window_days
    status.not_before, status.not_after = info.not_before, info.not_after
    status.renewal_time = policies.renewal_time(info.not_before, info.not_after, days)
    status.serial_number = info.serial_number
    status.fingerprint = info.fingerprint_sha256
    status.secret_name = spec.secret_name
    status.scm_status = "Issued" if plan.kind == CertificateType.SSL else "issued"
    status.failed_attempts = 0
    w.error(None)
    w.record(
        CertificateState.ISSUED, f"serial {info.serial_number}, expires {info.not_after:%Y-%m-%d}"
    )
    message = (
        f"certificate {status.cert_unique_id} issued and stored in Secret {spec.secret_name!r}"
    )
    w.conditions(
        ready=(True, policies.REASON_ISSUED, message),
        issuing=(False, policies.REASON_ISSUED, message),
    )
    await w.flush("lastError")
    if pending is not None:
        await ctx.kube.delete_secret(ns, pending.name)
    emit("Normal", policies.REASON_ISSUED, message)


def _wait_delay(ctx: Context, retry: int) -> float:
    """Backoff while waiting for something else (config, profile, a referenced Secret)."""
    return policies.backoff(retry + 1, base=1.0, cap=ctx.settings.wait_config_max_delay)


def _api_reason(exc: ApiException) -> str:
    """A short, safe description of an API error (never the whole response)."""
    return f"HTTP {exc.status} {exc.reason or ''}".strip()


async def _load_key(raw: bytes, *, ours: bool = False) -> pki.PrivateKey:
    """Parse a PEM key off the event loop (RSA validation costs 30-200 ms; skipped for ours)."""
    return await asyncio.to_thread(functools.partial(pki.load_private_key, raw, trusted=ours))


async def _key_for(
    ctx: Context,
    w: StatusWriter,
    cert: SectigoCertificate,
    leaf: x509.Certificate,
    secret: SecretData | None,
    emit: Emit,
    known_key: pki.PrivateKey | None = None,
) -> tuple[bytes, pki.PrivateKey, SecretData | None]:
    """The key to store with the certificate: PEM, key, and our pending-key Secret if used.

    The user's key Secret, else our pending key, else (collecting again after the pending key
    was cleaned up) the key already in our Secret if it belongs to the certificate. When none
    is left the order cannot be completed: Stalled ``KeyLost``.
    """
    spec, ns = cert.spec, cert.metadata.namespace or ""
    encoding: pki.KeyEncoding = (
        "PKCS8" if (spec.private_key and spec.private_key.encoding.value == "PKCS8") else "PKCS1"
    )
    user_key = spec.private_key_secret_ref is not None
    if known_key is not None and pki.cert_matches_key(leaf, known_key):
        # The key of the order placed in this very call: no need to read and parse it back.
        pending = None
        if not user_key:
            found = await ctx.kube.get_secret(ns, pending_key_secret_name(cert.metadata.name))
            pending = found if found and is_managed_by(found, cert.metadata.name) else None
        return pki.private_key_to_pem(known_key, encoding), known_key, pending
    if spec.private_key_secret_ref is not None:
        ref = spec.private_key_secret_ref
        raw = await _user_secret_value(ctx.kube, ns, ref.name, ref.key, "spec.privateKeySecretRef")
        try:
            key = await _load_key(raw)
        except pki.PkiError as exc:
            raise SpecError("spec.privateKeySecretRef", str(exc)) from None
        return pki.private_key_to_pem(key, encoding), key, None
    pending = await ctx.kube.get_secret(ns, pending_key_secret_name(cert.metadata.name))
    candidates: list[tuple[SecretData, bytes]] = []
    if pending is not None and is_managed_by(pending, cert.metadata.name):
        candidates.append((pending, pending.data.get("tls.key", b"")))
    if secret is not None:
        candidates.append((secret, secret.data.get("tls.key", b"")))
    for source, raw in candidates:
        try:
            candidate = await _load_key(raw, ours=True) if raw else None
        except pki.PkiError:
            candidate = None
        if candidate is not None and pki.cert_matches_key(leaf, candidate):
            used = source if source is pending else None
            return pki.private_key_to_pem(candidate, encoding), candidate, used
    message = (
        f"the private key of order {w.status.cert_unique_id} is gone (its pending-key Secret "
        "was deleted or altered); the order cannot be completed. Change the spec to order anew."
    )
    w.record(CertificateState.FAILED, message)
    await _stall(w, emit, policies.REASON_KEY_LOST, message)
    raise Stalled(message)
