"""Collecting a certificate from SCM and writing it, with its key, to the target Secret.

The Secret is written in one request (create, or replace at the resourceVersion read), so a
reader sees the old certificate and key or the new ones, never a mix. Additional output formats
(CombinedPEM, DER, PKCS#12) and ``secretTemplate`` are rendered here too, by ``secret_payload``
(pure), also when only they changed (``rewrite``: no SCM call).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping

from .. import outputs, pki, policies
from ..configs import ConfigEntry
from ..k8s import KubeConflict, KubeInvalid
from ..models import CertificateSpec, CertificateState, CertificateStatus
from ..models.certificate import OUTPUT_FORMAT_KEYS, OutputFormatType
from ..policies import EnrollPlan
from ..scm import Issued, Pending, ScmError, ScmOrderFailedError
from ..settings import (
    ANNOTATION_CERT_UNIQUE_ID,
    ANNOTATION_CN,
    ANNOTATION_SCM_ID,
    ANNOTATION_SERIAL,
    ANNOTATION_TEMPLATE_KEYS,
    LABEL_CERTIFICATE,
    LABEL_MANAGED_BY,
    MANAGED_BY,
)
from .context import Context, Emit
from .gather import Inputs, Reference, pending_key_secret_name
from .keys import KeyMaterial, clear_target, key_for, marker_annotations
from .kinds import OrderKind, followed
from .metadata import merged, template_keys, template_of
from .outcomes import RetryLater
from .readiness import (
    REASON_EXPIRED,
    SecretState,
    certificate_only_verdict,
    expired,
    ready_message,
)
from .status import StatusWriter, Verdict, scm_failure, stall
from .trigger import jittered_renewal_time


class KeyGone(Exception):
    """Collected again, but no key at hand matches the certificate (the Secret's was edited,
    or an import without its key)."""

    def __init__(self, chain: pki.Chain) -> None:
        self.chain = chain
        super().__init__("no key matches the collected certificate")


CERTIFICATE_ONLY_TYPE = "Opaque"
"""A Secret without a key cannot be ``kubernetes.io/tls`` (which requires ``tls.key``)."""


def secret_payload(
    spec: CertificateSpec,
    status: CertificateStatus,
    chain: pki.Chain,
    key: pki.PrivateKey | None,
    passwords: Mapping[str, Reference],
    collect_format: str | None = None,
) -> tuple[dict[str, bytes], dict[str, str], dict[str, str]]:
    """The Secret's data, labels and annotations (raises SecretMissing for a PKCS#12 password).

    Without a key (an import without ``privateKeySecretRef``) only the certificate, the chain
    and the collect format are written: every additional output format needs the key.

    ``collect_format`` (``spec.format``, else the config's default for the kind) adds the chain
    as SCM's collect returns it in that format, under ``outputs.COLLECT_FORMAT_FILES[format]``.
    """
    encoding = policies.key_encoding(spec)
    chain_pem = pki.chain_to_pem(chain)
    data = {"tls.crt": chain_pem.encode()}
    key_pem = pki.private_key_to_pem(key, encoding) if key is not None else b""
    if key is not None:
        data["tls.key"] = key_pem
    ca = pki.ca_pem(chain)
    if ca:
        data["ca.crt"] = ca.encode()
    if collect_format is not None:
        data[outputs.COLLECT_FORMAT_FILES[collect_format]] = outputs.render_collect_format(
            chain, collect_format
        )
    for output in spec.additional_output_formats or ():
        if key is None:
            break
        name = OUTPUT_FORMAT_KEYS[output.type]
        if output.type == OutputFormatType.COMBINED_PEM:
            data[name] = outputs.combined_pem(chain_pem, key_pem).encode()
        elif output.type == OutputFormatType.DER:
            data[name] = outputs.der(key)
        else:
            ref = output.password_secret_ref
            assert ref is not None  # the CRD requires it for PKCS12
            data[name] = outputs.pkcs12(chain, key, passwords[ref.name].require())
    info = pki.cert_info(chain.leaf)
    template_labels, template_annotations = template_of(spec)
    labels = {
        **template_labels,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_CERTIFICATE: "",
    }
    annotations = {
        **template_annotations,
        ANNOTATION_TEMPLATE_KEYS: template_keys(template_labels, template_annotations),
        ANNOTATION_CERT_UNIQUE_ID: status.cert_unique_id or "",
        ANNOTATION_SCM_ID: str(status.ssl_id or status.backend_cert_id or ""),
        ANNOTATION_SERIAL: info.serial_number,
        ANNOTATION_CN: info.common_name or "",
    }
    return data, labels, annotations


def collect_format(inputs: Inputs) -> str | None:
    """``spec.format``, else the config's default format for the certificate's kind."""
    spec, entry = inputs.cert.spec, inputs.entry
    if spec.format is not None:
        return spec.format.value
    if entry is None:
        return None
    defaults = entry.spec.client if spec.certificate_type.value == "client" else entry.spec.ssl
    return defaults.format.value if defaults.format is not None else None


async def write(
    ctx: Context,
    w: StatusWriter,
    inputs: Inputs,
    chain: pki.Chain,
    key: pki.PrivateKey | None,
    emit: Emit,
    version: str | None = None,
) -> None:
    """Write the target Secret in one request; the status must already name the certificate.

    ``version``: the resourceVersion of the target Secret this very step wrote the pending key
    into (a first order); else the Secret as gathered is replaced, or created.
    """
    spec = inputs.cert.spec
    payload = functools.partial(
        secret_payload, spec, w.status, chain, key, inputs.passwords, collect_format(inputs)
    )
    # PKCS#12 and the other additional formats take milliseconds: off the event loop. The PEM
    # files alone take less than the trip to a worker thread and back.
    data, labels, annotations = (
        await asyncio.to_thread(payload) if spec.additional_output_formats else payload()
    )
    labels[LABEL_CERTIFICATE] = inputs.cert.metadata.name
    marker = w.unwritten_marker
    if marker is not None:  # a first order's, until the status write that follows records it
        enrollment = w.status.enrollment
        annotations.update(marker_annotations(marker, enrollment.identity if enrollment else None))
    ours = inputs.secret if inputs.secret_is_ours else None
    if ours is not None:  # what someone else put on the Secret stays
        labels, annotations = merged(ours.labels, ours.annotations, labels, annotations)
    secret_type = "kubernetes.io/tls" if key is not None else CERTIFICATE_ONLY_TYPE
    if version is None and ours is not None:
        version = ours.resource_version
        if ours.type != secret_type:
            # The type of a Secret is immutable: a certificate-only Secret that gets its key (a
            # renewal with a new key) is written anew.
            await ctx.kube.delete_secret(inputs.namespace, spec.secret_name)
            version = None
    try:
        with ctx.writing((inputs.namespace, spec.secret_name), data) as digest:
            await ctx.kube.write_secret(
                inputs.namespace,
                spec.secret_name,
                type=secret_type,
                data=data,
                labels=labels,
                annotations=annotations,
                resource_version=version,
            )
    except KubeConflict:
        raise RetryLater(1.0, f"Secret {spec.secret_name!r} changed meanwhile") from None
    except KubeInvalid as exc:
        message = f"the API server refused Secret {spec.secret_name!r} ({refusal(exc)}): {exc}"
        await stall(w, emit, policies.REASON_INVALID_SPEC, message)
    w.status.secret_digest = digest


def refusal(exc: KubeInvalid) -> str:
    """What to look at when the API server refuses the certificate's Secret: the labels and
    annotations come from ``spec.secretTemplate``; a refused ``data`` or ``immutable`` is the
    Secret's own (made immutable by someone: deleted, it is written again); without the paths,
    the template is the likelier cause."""
    own = [f for f in exc.fields if f.split(".")[0].split("[")[0] in ("data", "immutable", "type")]
    if own and len(own) == len(exc.fields):
        return "the Secret refuses the change; if it was made immutable, delete it"
    return "check spec.secretTemplate"


async def collect(
    ctx: Context,
    w: StatusWriter,
    inputs: Inputs,
    plan: EnrollPlan | None,
    entry: ConfigEntry,
    kind: OrderKind,
    stored: SecretState,
    emit: Emit,
    ready: Verdict,
    known: KeyMaterial | None = None,
    *,
    recollect: bool = False,
    doing: str = "collecting",
) -> None:
    """Collect the order status follows; store it when issued, else say when to look again.
    ``doing`` names the collect in SCM error messages (an import names its spec field)."""
    status = w.status
    assert entry.client is not None
    try:
        result = await kind.collect_once(entry.client, status)
    except ScmOrderFailedError as exc:
        status.scm_status = getattr(exc, "status", None) or status.scm_status
        w.record(CertificateState.FAILED, str(exc))
        where = "" if doing == "collecting" else f" ({doing})"
        message = f"SCM order failed{where}: {exc}"
        await stall(w, emit, policies.REASON_ORDER_FAILED, message, exc)
    except ScmError as exc:
        await scm_failure(ctx, w, emit, exc, doing, ready)
    if isinstance(result, Pending):
        await _pending(ctx, w, inputs, known, result, entry, ready, emit)
    assert isinstance(result, Issued)
    try:
        chain = pki.order_chain(pki.parse_pem_chain(result.material))
    except pki.PkiError as exc:
        await stall(
            w, emit, policies.REASON_SCM_ERROR, f"SCM returned an unusable certificate: {exc}"
        )
    key = await key_for(inputs, chain.leaf, stored, known)
    if key is None and recollect:
        raise KeyGone(chain)
    if key is None:
        message = (
            f"the private key of order {status.cert_unique_id} is gone (its pending-key Secret "
            "was deleted or altered); the order cannot be completed. Change the spec to order anew."
        )
        if not recollect:
            w.record(CertificateState.FAILED, message)
        await stall(w, emit, policies.REASON_KEY_LOST, message)
    await store(ctx, w, inputs, plan, entry, kind, chain, key, emit, known)


async def store(
    ctx: Context,
    w: StatusWriter,
    inputs: Inputs,
    plan: EnrollPlan | None,
    entry: ConfigEntry | None,
    kind: OrderKind,
    chain: pki.Chain,
    key: pki.PrivateKey | None,
    emit: Emit,
    known: KeyMaterial | None = None,
) -> None:
    """Write the Secret, then mark the certificate Issued and Ready and drop the pending key
    (unless it waited in the target Secret, which the certificate has just replaced)."""
    spec, status, cert = inputs.cert.spec, w.status, inputs.cert
    info = pki.cert_info(chain.leaf)
    waiting = known.waiting if known is not None else None
    await write(ctx, w, inputs, chain, key, emit, waiting.version if waiting else None)
    window = spec.effective_renewal(entry.spec).expiry_window_days if entry else 30
    # A request present when a new certificate is issued is answered by it: none is acted on
    # again afterwards. The same certificate collected again (a Secret restored) answers none.
    new = info.fingerprint_sha256 != status.fingerprint
    if spec.renew_request is not None and new:
        status.last_renew_request_id = spec.renew_request.id
    if spec.replace_request is not None and new:
        status.last_replace_request_id = spec.replace_request.id
    if spec.revoke_request is not None and status.fingerprint is None:
        # A revokeRequest already in the manifest of a new certificate (a GitOps repository
        # applied to a new cluster) must not revoke the certificate just issued.
        status.last_revoke_request_id = spec.revoke_request.id
    status.not_before, status.not_after = info.not_before, info.not_after
    status.renewal_time = jittered_renewal_time(
        info.not_before, info.not_after, window, cert.metadata.uid or cert.metadata.name
    )
    status.serial_number = info.serial_number
    status.fingerprint = info.fingerprint_sha256
    status.issued_order = followed(status)
    status.secret_name = spec.secret_name
    status.scm_status = kind.issued_status
    status.failed_attempts = 0
    if plan is not None and status.ordered_cert_type is None:  # placed by an older version
        status.ordered_cert_type, status.ordered_term = plan.cert_type, plan.term
    w.error(None)
    w.record(
        CertificateState.ISSUED, f"serial {info.serial_number}, expires {info.not_after:%Y-%m-%d}"
    )
    if expired(status, inputs.now):  # an import of a certificate past its notAfter
        message = f"the certificate in Secret {spec.secret_name!r} has expired"
        w.conditions(ready=(False, REASON_EXPIRED, message))
    elif key is not None:
        w.conditions(ready=(True, policies.REASON_ISSUED, ready_message(status, spec.secret_name)))
    else:
        w.conditions(ready=certificate_only_verdict(status, spec.secret_name))
    await w.flush()
    message = (
        f"certificate {status.cert_unique_id} issued and stored in Secret {spec.secret_name!r}"
    )
    if inputs.has_pending_key_secret or (waiting is not None and not waiting.in_target):
        await ctx.kube.delete_secret(inputs.namespace, pending_key_secret_name(cert.metadata.name))
    emit("Normal", policies.REASON_ISSUED, message)


async def _pending(
    ctx: Context,
    w: StatusWriter,
    inputs: Inputs,
    known: KeyMaterial | None,
    result: Pending,
    entry: ConfigEntry,
    ready: Verdict,
    emit: Emit,
) -> None:
    """Not issued yet: record the order (status first: a first order's marker may be only on
    the Secret its key waits in), move a key out of the target Secret, say when to look again."""
    status = w.status
    loop_period, max_timeout = entry.spec.collect.loop_period, entry.spec.collect.max_timeout
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
    w.conditions(
        ready=ready if ready[0] else (False, reason, message), issuing=(True, reason, message)
    )
    await w.flush()
    await clear_target(ctx, inputs, known)
    if w.placed_event is not None:
        emit("Normal", *w.placed_event)
        w.placed_event = None
    delay = policies.poll_delay(
        loop_period,
        elapsed,
        max_timeout,
        awaiting_approval=approval,
        cap=ctx.settings.max_poll_delay,
    )
    raise RetryLater(delay, message)
