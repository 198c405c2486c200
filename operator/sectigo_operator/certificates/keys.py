"""Key material of an order: the user's key or CSR, our persisted pending key, the stored key.

A generated key is persisted before any SCM call uses it, so a crash never leaves an order
without its key. A first order (no target Secret yet) keeps it in the target Secret itself,
labelled pending with an empty ``tls.crt``, which the certificate then replaces in one write:
the key never exists in two Secrets, and nothing is left to delete. Should SCM not issue at
once (approval can take days), the key moves to the pending-key Secret (``clear_target``), so
that no consumer sees a Secret without a certificate for longer than one SCM round trip. An
order for a certificate whose Secret already exists (a renewal, a replacement) must not touch
the live Secret: its key waits in ``<certificate>-sectigo-pending-key``, deleted once the new
certificate and key are in the target Secret. Keys are parsed and generated off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from .. import pki
from ..k8s import KubeConflict
from ..models import SectigoCertificate
from ..policies import EnrollPlan, SpecError
from ..settings import (
    ANNOTATION_ENROLLMENT_IDENTITY,
    ANNOTATION_ENROLLMENT_MARKER,
    LABEL_CERTIFICATE,
    LABEL_MANAGED_BY,
    LABEL_PENDING_KEY,
    MANAGED_BY,
)
from .context import Context
from .gather import Inputs, holds_pending_key, pending_key_secret_name
from .readiness import SecretState
from .status import ensure_leading


@dataclass(frozen=True)
class Waiting:
    """Where a pending key waits."""

    in_target: bool
    """In the target Secret (a first order: nothing to delete once the certificate is stored),
    not in the pending-key Secret."""
    version: str | None = None
    """The target Secret's resourceVersion when this step wrote the key into it (else None)."""


@dataclass(frozen=True)
class KeyMaterial:
    """The key and CSR of an order."""

    key: pki.PrivateKey | None
    csr_pem: str
    key_spec: pki.KeySpec
    csr_info: pki.CsrInfo | None = None
    """Set when the user supplied the CSR: its names override the spec's."""
    waiting: Waiting | None = None
    """Where the key waits when it is a pending key of ours (persisted before the order)."""


def owner_of(cert: SectigoCertificate) -> dict[str, Any]:
    """An ownerReference to the certificate (garbage collection of the pending key)."""
    return {
        "apiVersion": cert.api_version,
        "kind": cert.kind,
        "name": cert.metadata.name,
        "uid": cert.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }


async def load_key(raw: bytes, *, ours: bool = False) -> pki.PrivateKey:
    """Parse a PEM key off the event loop (RSA validation costs 30-200 ms; skipped for ours)."""
    return await asyncio.to_thread(functools.partial(pki.load_private_key, raw, trusted=ours))


async def user_key(inputs: Inputs) -> pki.PrivateKey | None:
    """The key of ``spec.privateKeySecretRef`` (None without one); SpecError naming the field."""
    if inputs.user_key is None:
        return None
    try:
        return await load_key(inputs.user_key.require())
    except pki.PkiError as exc:
        raise SpecError("spec.privateKeySecretRef", str(exc)) from None


async def material(
    ctx: Context,
    inputs: Inputs,
    plan: EnrollPlan,
    *,
    new_key: bool,
    stored: SecretState,
    marker: tuple[str, str] | None = None,
) -> KeyMaterial:
    """The key and CSR for an order, persisting a generated key before it is used.

    The user's key or CSR when the spec names them; else, with ``new_key`` False, the key in the
    target Secret (renewal or replacement without rotation); else our pending key (reused while
    an operation is in flight, so an adopted order keeps its key). ``marker``: a first order's
    marker and identity, persisted with a key made for the target Secret
    (``requests.Placer.start``).
    """
    spec = inputs.cert.spec
    key = await user_key(inputs)
    if inputs.user_csr is not None:
        field = "spec.csr" if spec.csr is not None else "spec.csrSecretRef"
        text = inputs.user_csr.require()
        try:
            csr = pki.load_csr(text)
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
    if key is None and not new_key and stored.key is not None and stored.key_matches:
        key = stored.key
    try:
        pki.check_csr_request(plan.csr_request)  # before a key is made and persisted
    except pki.InvalidCsr as exc:
        raise SpecError("spec", f"the CSR cannot be built: {exc}") from None
    waiting = csr_pem = None
    try:  # checked above: a traceback loop if it ever slipped through
        if key is None:
            key, waiting, csr_pem = await pending_key(
                ctx, inputs, plan.key_spec, marker, plan.csr_request
            )
        if csr_pem is None:
            csr_pem = await asyncio.to_thread(pki.build_csr, key, plan.csr_request)
    except pki.InvalidCsr as exc:
        raise SpecError("spec", f"the CSR cannot be built: {exc}") from None
    return KeyMaterial(key, csr_pem, pki.key_spec_of(key), waiting=waiting)


async def pending_key(
    ctx: Context,
    inputs: Inputs,
    spec: pki.KeySpec,
    marker: tuple[str, str] | None = None,
    request: pki.CsrRequest | None = None,
) -> tuple[pki.PrivateKey, Waiting, str | None]:
    """The key waiting for this certificate's order: reuse the persisted one, or make one;
    with ``request``, a new key's CSR too (None for a reused key). A CSR that cannot be built
    raises ``pki.InvalidCsr`` before the new key is persisted.

    While an operation is in flight (an order may already be at SCM with the persisted key) the
    persisted key is reused even if ``spec.privateKey`` changed meanwhile: replacing it could
    leave the adopted order without its key. A key persisted for a certificate of the same name
    before (deleted and created again: the Secret is owned by the old uid) is not reused: the
    garbage collector deletes it with its old owner, and a new order would be left without its
    key; it is deleted, and a new key goes into a new Secret owned by this certificate.

    A new key goes into the target Secret when there is none yet (a first order), else into the
    pending-key Secret; one someone else owns stops the step (SpecError), it is never
    overwritten. Both carry an ownerReference to the certificate, so deleting the certificate
    mid-order leaves no key behind. A new target Secret carries ``marker`` (a first order's
    marker and identity) as annotations.
    """
    cert = inputs.cert
    existing = inputs.pending
    in_target = inputs.pending_in_target if existing is not None else inputs.secret is None
    version = existing.resource_version if existing is not None else None
    if existing is not None:
        raw = existing.data.get("tls.key")
        try:
            key = await load_key(raw, ours=True) if raw else None
        except pki.PkiError:
            key = None  # unreadable: replaced below (no order can use a key nobody can read)
        earlier = bool(existing.owners) and cert.metadata.uid not in existing.owners
        if key is not None and (inputs.in_flight or (not earlier and pki.key_spec_of(key) == spec)):
            return key, Waiting(in_target), None
        if earlier:
            # Not replaced in place: the object would keep its uid, which the garbage collector
            # may be about to delete for its old owner, new key and all. A new object instead.
            await ctx.kube.delete_secret(inputs.namespace, existing.name)
            version = None
    name = cert.spec.secret_name if in_target else pending_key_secret_name(cert.metadata.name)
    if inputs.pending_foreign and not in_target:
        raise SpecError(
            "metadata.name",
            f"Secret {name!r} (where this certificate keeps its pending private key) exists and "
            "is not managed by the operator; delete or rename that Secret",
        )
    made, key_pem, csr_pem = await asyncio.to_thread(_new_key, spec, request)
    ensure_leading(ctx)  # a process that lost the Lease makes no key
    version = await _persist(
        ctx,
        inputs,
        key_pem,
        in_target=in_target,
        version=version,
        marker=marker if in_target else None,
    )
    return made, Waiting(in_target, version if in_target else None), csr_pem


def _new_key(
    spec: pki.KeySpec, request: pki.CsrRequest | None
) -> tuple[pki.PrivateKey, bytes, str | None]:
    """A new key, its PKCS#8 PEM and, with ``request``, its CSR: one trip to a worker thread
    instead of two (the CSR is used only once the key is persisted)."""
    key = pki.generate_private_key(spec)
    csr_pem = pki.build_csr(key, request) if request is not None else None
    return key, pki.private_key_to_pem(key, "PKCS8"), csr_pem


async def _persist(
    ctx: Context,
    inputs: Inputs,
    key_pem: bytes,
    *,
    in_target: bool,
    version: str | None,
    marker: tuple[str, str] | None = None,
) -> str:
    """Write a pending key (PKCS#8 PEM) where it waits, with the marker of its order when status
    does not record it; the Secret's new resourceVersion."""
    cert = inputs.cert
    name = cert.spec.secret_name if in_target else pending_key_secret_name(cert.metadata.name)
    data = {"tls.key": key_pem}
    if in_target:
        data["tls.crt"] = b""  # required by the type; the certificate fills it
    with ctx.writing((inputs.namespace, name), data):
        return await ctx.kube.write_secret(
            inputs.namespace,
            name,
            type="kubernetes.io/tls" if in_target else "Opaque",
            data=data,
            labels={
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_CERTIFICATE: cert.metadata.name,
                LABEL_PENDING_KEY: "true",
            },
            annotations=marker_annotations(*marker) if marker else {},
            owner=owner_of(cert),
            resource_version=version,
        )


def marker_annotations(marker: str, identity: str | None) -> dict[str, str]:
    """A first order's marker and identity, as annotations of the Secret holding its key (and
    of the certificate's Secret until status records them)."""
    found = {ANNOTATION_ENROLLMENT_MARKER: marker}
    if identity:
        found[ANNOTATION_ENROLLMENT_IDENTITY] = identity
    return found


async def clear_target(ctx: Context, inputs: Inputs, known: KeyMaterial | None) -> None:
    """SCM did not issue at once: a key waiting in the target Secret moves to the pending-key
    Secret (written first, so the key is never absent), and the target Secret is deleted.
    Kept where it is when someone else holds the pending-key name, or no key is at hand."""
    cert = inputs.cert
    target = inputs.secret
    if known is not None and known.key is not None and known.waiting and known.waiting.in_target:
        raw = pki.private_key_to_pem(known.key, "PKCS8")  # written or reused by this step
    elif target is not None and holds_pending_key(target, cert.metadata.name):
        raw = target.data.get("tls.key", b"")
    else:
        return
    if not inputs.has_pending_key_secret:
        if inputs.pending_foreign or not raw:
            return
        try:
            await _persist(ctx, inputs, raw, in_target=False, version=None)
        except KubeConflict:
            # A Secret by that name this step did not read (a first step reads none when the
            # watch knows none): the key stays where it is, as for someone else's Secret, and
            # the order placed meanwhile is recorded by the rest of the step.
            return
    await ctx.kube.delete_secret(inputs.namespace, cert.spec.secret_name)


async def key_for(
    inputs: Inputs, leaf: x509.Certificate, stored: SecretState, known: KeyMaterial | None
) -> pki.PrivateKey | None:
    """The key that belongs to ``leaf`` (None when no key at hand matches it).

    The key of an order placed in this very step, else the user's key, else our pending key,
    else the key already in the target Secret.
    """
    if known is not None and known.key is not None and pki.cert_matches_key(leaf, known.key):
        return known.key
    key = await user_key(inputs)
    if key is not None:
        return key if pki.cert_matches_key(leaf, key) else None
    if inputs.pending is not None:
        raw = inputs.pending.data.get("tls.key", b"")
        try:
            candidate = await load_key(raw, ours=True) if raw else None
        except pki.PkiError:
            candidate = None
        if candidate is not None and pki.cert_matches_key(leaf, candidate):
            return candidate
    if stored.key is not None and pki.cert_matches_key(leaf, stored.key):
        return stored.key
    return None
