"""All reads of one certificate step, done once, into a frozen input object.

``gather`` reads the target Secret, our pending-key Secret, the Secrets the spec references (key,
CSR, keystore passwords), the config entry and the SectigoProfile, and takes ``now`` once (a new
certificate's first step reads neither of its own Secrets when the Secret watch knows neither:
``nothing_to_read``). The rest of the step decides and acts on this snapshot; nothing else in
the package reads the cluster (writes go through the status writer and ``issuing``/``keys``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import policies
from ..configs import ConfigEntry, Kind
from ..k8s import SecretData
from ..models import CertificateState, SectigoCertificate, find_condition
from ..models.certificate import OutputFormatType
from ..models.profile import ProfileInfo, SectigoProfile
from ..settings import (
    ANNOTATION_ENROLLMENT_IDENTITY,
    ANNOTATION_ENROLLMENT_MARKER,
    LABEL_CERTIFICATE,
    LABEL_MANAGED_BY,
    LABEL_PENDING_KEY,
    MANAGED_BY,
)
from .context import Context
from .outcomes import SecretMissing

IN_FLIGHT = frozenset(
    {
        CertificateState.ENROLLING,
        CertificateState.RENEWING,
        CertificateState.REPLACING,
        CertificateState.APPLIED,
        CertificateState.REQUESTED,
        CertificateState.TIMED_OUT_STATE_SAVED,
    }
)
"""States in which an SCM operation is under way (its marker is in ``status.enrollment``)."""


def pending_key_secret_name(cert_name: str) -> str:
    """Where a generated key waits for its order: ``<certificate>-sectigo-pending-key``."""
    name = f"{cert_name}-sectigo-pending-key"
    if len(name) <= 253:
        return name
    return f"{cert_name[:200]}-{hashlib.sha256(cert_name.encode()).hexdigest()[:10]}-pending-key"


def is_managed_by(secret: SecretData, cert_name: str) -> bool:
    """Did the operator write this Secret for this certificate (its labels say so)?"""
    return (
        secret.labels.get(LABEL_MANAGED_BY) == MANAGED_BY
        and secret.labels.get(LABEL_CERTIFICATE) == cert_name
    )


def holds_pending_key(secret: SecretData, cert_name: str) -> bool:
    """Is this target Secret ours and still waiting for its first certificate? A first order's
    key waits in the target Secret itself (labelled pending, ``tls.crt`` empty)."""
    return is_managed_by(secret, cert_name) and secret.labels.get(LABEL_PENDING_KEY) == "true"


@dataclass(frozen=True)
class Reference:
    """A value the spec references in a Secret: the bytes, or why they are not there."""

    value: bytes | None = None
    missing: SecretMissing | None = None

    def require(self) -> bytes:
        if self.missing is not None:
            raise self.missing
        assert self.value is not None
        return self.value


@dataclass(frozen=True)
class Inputs:
    """Everything one step of one certificate decides on."""

    cert: SectigoCertificate
    now: datetime
    secret: SecretData | None
    """The target Secret (``spec.secretName``), whoever owns it."""
    pending: SecretData | None
    """Where our pending key waits: the pending-key Secret, else the target Secret while it
    holds only a first order's key (``pending_in_target``), else None (also None when someone
    else owns the pending-key name)."""
    pending_foreign: bool
    """A Secret with the pending-key name exists and is not ours."""
    entry: ConfigEntry | None
    profile_id: int | None
    profile_problem: str | None
    """Why ``spec.profileRef`` gives no profile id yet (None: fine, or no profileRef)."""
    user_key: Reference | None = None
    user_csr: Reference | None = None
    passwords: Mapping[str, Reference] = field(default_factory=dict)
    """PKCS#12 passwords by Secret name."""
    revoked: frozenset[tuple[Kind, int]] | None = None
    """What the last SCM drift check of the config listed as revoked (None: not checked)."""
    pending_in_target: bool = False
    """``pending`` is the target Secret, still waiting for its first certificate."""
    unrecorded_marker: str | None = None
    """The marker of a first order that no status records yet, found on a Secret of ours (the
    key's, or the certificate's that replaced it: ``first_order_marker``): the order may be at
    SCM, so the step finds it by its marker before ordering."""
    unrecorded_identity: str | None = None
    """The name that order was placed under, from the same Secret (None: not recorded)."""

    @property
    def namespace(self) -> str:
        return self.cert.metadata.namespace or ""

    @property
    def in_flight(self) -> bool:
        """An SCM operation is under way (placed or not)."""
        status = self.cert.status
        return self.unrecorded_marker is not None or bool(
            status and status.state in IN_FLIGHT and status.enrollment and status.enrollment.marker
        )

    @property
    def has_pending_key_secret(self) -> bool:
        """Our ``<certificate>-sectigo-pending-key`` Secret exists (delete it once done)."""
        return self.pending is not None and not self.pending_in_target

    @property
    def secret_is_ours(self) -> bool:
        return self.secret is not None and is_managed_by(self.secret, self.cert.metadata.name)


async def _reference(
    ctx: Context, cache: dict[str, SecretData | None], ns: str, name: str, key: str, field: str
) -> Reference:
    if name not in cache:
        cache[name] = await ctx.kube.get_secret(ns, name)
    secret = cache[name]
    if secret is None:
        return Reference(missing=SecretMissing(field, f"Secret {name!r} not found"))
    value = secret.data.get(key)
    if not value:
        return Reference(missing=SecretMissing(field, f"Secret {name!r} has no key {key!r}"))
    return Reference(value=value)


def first_order_marker(cert: SectigoCertificate) -> str:
    """The marker of the certificate's first order (attempt 0): a pure function of its uid."""
    return policies.marker_for(cert.metadata.uid or cert.metadata.name, 0)


def unrecorded_marker(
    cert: SectigoCertificate, *secrets: SecretData | None
) -> tuple[str, str | None] | None:
    """The first order's marker when no status records any enrollment and a Secret of ours
    carries it (``ANNOTATION_ENROLLMENT_MARKER``): a first order's key and marker are persisted
    in one write, the create of the target Secret, and status records them only with the
    order's outcome. A marker of another uid (a certificate of the same name before) is not
    this certificate's. With the marker: the name the order was placed under, if recorded."""
    status = cert.status
    if status is not None and status.enrollment is not None:
        return None
    marker = first_order_marker(cert)
    for secret in secrets:
        if (
            secret is not None
            and is_managed_by(secret, cert.metadata.name)
            and secret.annotations.get(ANNOTATION_ENROLLMENT_MARKER) == marker
        ):
            return marker, secret.annotations.get(ANNOTATION_ENROLLMENT_IDENTITY)
    return None


def nothing_to_read(ctx: Context, cert: SectigoCertificate, first: bool) -> bool:
    """Whether this step may take the target and pending-key Secrets as absent without reading
    them: a certificate no operator has acted on yet (no status), seen for the first time by
    this process, whose first write is the create of the target Secret holding a key generated
    for it, before any SCM call (no key, CSR or import of the user's), while the Secret watch
    knows no managed Secret by either name (``Context.secrets``, complete since the namespace
    was listed). A Secret the watch does not know of (someone else's, or ours not delivered yet)
    makes that create fail with 409 before anything is ordered; the next step is not the first
    and reads both."""
    spec, ns = cert.spec, cert.metadata.namespace or ""
    return (
        first
        and ctx.secrets_known(ns)
        and cert.status is None
        and cert.metadata.deletion_timestamp is None
        and spec.import_ is None
        and spec.private_key_secret_ref is None
        and spec.csr is None
        and spec.csr_secret_ref is None
        and (ns, spec.secret_name) not in ctx.secrets
        and (ns, pending_key_secret_name(cert.metadata.name)) not in ctx.secrets
    )


async def gather(ctx: Context, body: Mapping[str, Any], *, first: bool = False) -> Inputs:
    """Read everything the step needs, once (``first``: this process has not stepped the
    certificate before; see ``nothing_to_read``)."""
    cert = SectigoCertificate.from_body(body)
    spec, ns, name = cert.spec, cert.metadata.namespace or "", cert.metadata.name
    now = ctx.now()
    secret = pending = None
    if not nothing_to_read(ctx, cert, first):
        secret = await ctx.kube.get_secret(ns, spec.secret_name)
        pending = await ctx.kube.get_secret(ns, pending_key_secret_name(name))
    foreign = pending is not None and not is_managed_by(pending, name)
    if foreign:
        pending = None
    in_target = pending is None and secret is not None and holds_pending_key(secret, name)
    unrecorded = unrecorded_marker(cert, pending, secret)

    cache: dict[str, SecretData | None] = {}
    user_key = user_csr = None
    if spec.private_key_secret_ref is not None:
        ref = spec.private_key_secret_ref
        user_key = await _reference(ctx, cache, ns, ref.name, ref.key, "spec.privateKeySecretRef")
    if spec.csr_secret_ref is not None:
        ref2 = spec.csr_secret_ref
        user_csr = await _reference(ctx, cache, ns, ref2.name, ref2.key, "spec.csrSecretRef")
    elif spec.csr is not None:
        user_csr = Reference(value=spec.csr.encode())
    passwords: dict[str, Reference] = {}
    for index, output in enumerate(spec.additional_output_formats or ()):
        pw = output.password_secret_ref
        if output.type == OutputFormatType.PKCS12 and pw is not None:
            field_name = f"spec.additionalOutputFormats[{index}].passwordSecretRef"
            passwords[pw.name] = await _reference(ctx, cache, ns, pw.name, pw.key, field_name)

    entry = ctx.configs.get(ns, spec.config_ref.name)
    profile_id, problem = None, None
    if spec.profile_ref is not None:
        profile_id, problem = await _profile(ctx, ns, spec.profile_ref.name)
    return Inputs(
        cert=cert,
        now=now,
        secret=secret,
        pending=secret if in_target else pending,
        pending_foreign=foreign,
        pending_in_target=in_target,
        unrecorded_marker=unrecorded[0] if unrecorded else None,
        unrecorded_identity=unrecorded[1] if unrecorded else None,
        entry=entry,
        profile_id=profile_id,
        profile_problem=problem,
        user_key=user_key,
        user_csr=user_csr,
        passwords=passwords,
        revoked=ctx.revoked.get((ns, spec.config_ref.name)),
    )


async def _profile(ctx: Context, namespace: str, name: str) -> tuple[int | None, str | None]:
    body = await ctx.kube.get_object("sectigoprofiles", namespace, name)
    profile = SectigoProfile.from_body(body) if body else None
    found = current_profile(profile) if profile is not None else None
    if found is None or found.id is None:
        status = profile.status if profile is not None else None
        ready = find_condition(status.conditions, "Ready") if status is not None else None
        if profile is None:
            what = "not found"
        elif ready is not None and ready.observed_generation == profile.metadata.generation:
            what = f"is not Ready: {ready.message}"  # e.g. SCM has no such profile
        else:
            what = "has not been fetched from SCM yet"
        return None, f"SectigoProfile {name!r} {what}"
    return found.id, None


def current_profile(profile: SectigoProfile) -> ProfileInfo | None:
    """The SectigoProfile's ``status.profile`` if it was fetched for the current spec and is the
    profile the spec names (an older operator version kept the old one after an edit)."""
    status, spec = profile.status, profile.spec
    found = status.profile if status is not None else None
    if found is None or status is None or status.observed_generation != profile.metadata.generation:
        return None
    if spec.profile_id is not None:
        return found if found.id == spec.profile_id else None
    return found if found.name == spec.profile_name else None
