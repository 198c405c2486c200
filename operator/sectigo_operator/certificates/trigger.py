"""Does the certificate need SCM, and which operation? A chain of pure, named checks.

Each check looks at the gathered inputs (``Facts``) and either passes or answers a ``Decision``:
an action, a CamelCase reason and a message for status and Events. The first check that answers
wins, so the order of ``CHECKS`` is the priority (the spec-change table in docs/api.md follows
it). Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from .. import pki, policies
from ..models import CertificateState
from ..models.certificate import OUTPUT_FORMAT_KEYS
from ..outputs import COLLECT_FORMAT_FILES
from ..settings import ANNOTATION_CERT_UNIQUE_ID
from .decision import Action, Decision, Facts
from .gather import IN_FLIGHT
from .metadata import template_of, templated
from .readiness import expired

Check = Callable[[Facts], Decision | None]


def foreign_secret(f: Facts) -> Decision | None:
    if f.secret_exists and not f.secret_is_ours:
        return Decision(
            Action.WAIT_FOREIGN_SECRET,
            policies.REASON_SECRET_NOT_MANAGED,
            f"Secret {f.secret_name!r} exists and is not managed by this certificate; the "
            "operator never overwrites it. Delete it or choose another spec.secretName.",
        )
    return None


def operation_in_flight(f: Facts) -> Decision | None:
    enrollment = f.status.enrollment
    if f.status.state in IN_FLIGHT and enrollment is not None and enrollment.marker:
        return Decision(Action.CONTINUE, "InFlight", "an SCM operation is in flight")
    return None


def order_failed(f: Facts) -> Decision | None:
    if f.status.state != CertificateState.FAILED:
        return None
    if f.status.observed_generation == f.generation:
        return Decision(Action.STAY_FAILED, policies.REASON_ORDER_FAILED, "the last order failed")
    return Decision(Action.ORDER, "SpecChanged", "the spec changed after a failed order")


def revoke_requested(f: Facts) -> Decision | None:
    request = f.spec.revoke_request
    if request is None or request.id == f.status.last_revoke_request_id:
        return None
    if f.status.fingerprint is None:
        return None  # nothing issued yet: the request is recorded with the first issuance
    return Decision(Action.REVOKE, "RevokeRequested", f"spec.revokeRequest.id {request.id!r}")


def revoked(f: Facts) -> Decision | None:
    if f.status.state == CertificateState.REVOKED:
        if f.status.observed_generation == f.generation:
            return Decision(Action.REVOKED, "Revoked", "the certificate is revoked at SCM")
        return Decision(Action.ORDER, "SpecChanged", "the spec changed after a revocation")
    if f.revoked_at_scm:
        return Decision(
            Action.REVOKED,
            "Revoked",
            f"SCM lists certificate {f.status.cert_unique_id} as revoked (revoked outside the "
            "cluster); it is not renewed. Change the spec to order a new one.",
        )
    return None


def import_requested(f: Facts) -> Decision | None:
    source = f.spec.import_
    if source is None or f.status.fingerprint is not None:
        return None
    number = source.ssl_id or source.order_number
    return Decision(Action.IMPORT, "Importing", f"importing SCM certificate {number}")


NOT_ISSUED = "no certificate has been issued yet"


def kept_order(annotations: dict[str, str]) -> tuple[int, str] | None:
    """The SCM order a Secret of ours records (its number and SCM customer), from the
    annotations the operator writes with each certificate; None if they are not there."""
    number, _, customer = annotations.get(ANNOTATION_CERT_UNIQUE_ID, "").partition("_")
    if not (number.isascii() and number.isdigit() and customer and int(number) > 0):
        return None
    return int(number), customer


def kept_secret(f: Facts) -> Decision | None:
    """A certificate nothing has been done for yet (no status, or only an adoption begun) whose
    Secret is ours, kept from a certificate of the same name deleted with ``Retain`` (or with the
    CRDs at an uninstall), and still holds an unexpired certificate for this spec's names with
    its key: adopt that certificate (one collect at SCM) instead of ordering another and
    overwriting its key. An adoption whose collect failed is tried again, never turned into an
    order. Only for keys the operator makes: a user's key or CSR decides the certificate."""
    s, status = f.secret, f.status
    if f.spec.import_ or f.user_key or f.spec.csr is not None or f.spec.csr_secret_ref is not None:
        return None
    if status.fingerprint is not None or status.enrollment is not None:
        return None  # an order of its own recorded: that is the one it follows
    if not (f.secret_exists and f.secret_is_ours and s.info is not None and s.key_matches):
        return None
    kept = kept_order(f.secret_annotations)
    unique_id = f.secret_annotations.get(ANNOTATION_CERT_UNIQUE_ID)
    begun = status.cert_unique_id == unique_id and status.state == CertificateState.APPLIED
    if kept is None or not (status.cert_unique_id is None or begun):
        return None
    if f.now >= s.info.not_after or policies.spec_drift(s.info, f.spec):
        return None
    return Decision(
        Action.ADOPT,
        "Adopting",
        f"Secret {f.secret_name!r} holds SCM certificate {kept[0]} for this spec, kept from a "
        "certificate of the same name; adopting it",
        False,
    )


def not_issued(f: Facts) -> Decision | None:
    if f.status.fingerprint is None:
        return Decision(Action.ORDER, "NotIssued", NOT_ISSUED)
    return None


def key_gone(f: Facts, what: str) -> Decision:
    """The Secret's key is gone: a replace with a new key where SCM allows it, else an order."""
    if f.user_key or f.import_without_key:
        return Decision(Action.RECOLLECT, "SecretDrift", f"{what}; restoring it from SCM", False)
    if f.can_replace:
        return Decision(Action.REPLACE, "SecretDrift", f"{what}; replacing with a new key")
    return Decision(Action.ORDER, "SecretDrift", f"{what}; ordering anew with a new key")


def secret_deleted(f: Facts) -> Decision | None:
    if not f.secret_exists:
        return key_gone(f, f"Secret {f.secret_name!r} was deleted")
    return None


def secret_edited(f: Facts) -> Decision | None:
    s = f.secret
    if s.current and (s.key_matches or (f.import_without_key and s.key is None)):
        return None
    if s.current:  # the certificate is ours, the key is not its key
        return key_gone(f, f"the key in Secret {f.secret_name!r} was changed")
    # The certificate was changed: collecting it again is free at SCM. If the key turns out
    # not to match either, the step falls back to `key_gone` (``Step.recollect``).
    return Decision(
        Action.RECOLLECT,
        "SecretDrift",
        f"the certificate in Secret {f.secret_name!r} was changed; collecting it again",
        False,
    )


def names_changed(f: Facts) -> Decision | None:
    if f.secret.info is None:
        return None
    drift = policies.spec_drift(f.secret.info, f.spec)
    if not drift:
        return None
    message = "; ".join(drift)
    if f.can_replace:
        return Decision(Action.REPLACE, "NamesChanged", message, f.rotate)
    return Decision(Action.ORDER, "NamesChanged", message)


def key_changed(f: Facts) -> Decision | None:
    if f.plan is None or f.user_key or f.import_without_key or f.secret.info is None:
        return None  # the key of a user's or an imported certificate is not ours to choose
    if f.spec.csr is not None or f.spec.csr_secret_ref is not None:
        return None
    have, want = f.secret.info.key_spec, f.plan.key_spec
    if have is None or have == want:
        return None
    message = f"spec.privateKey asks for {want}, the certificate has {have}"
    if f.can_replace:
        return Decision(Action.REPLACE, "KeyChanged", message)
    return Decision(Action.ORDER, "KeyChanged", message)


def secret_data_changed(f: Facts) -> Decision | None:
    """The certificate and key are in order (``secret_edited`` passed) and yet the data is not
    what the operator wrote: ``ca.crt``, a keystore or a format file was edited or removed.
    Collecting the certificate again (free at SCM) restores all of it, the root included."""
    written = f.status.secret_digest
    if written is None or f.secret_digest in (None, written):
        return None
    return Decision(
        Action.RECOLLECT,
        "SecretDrift",
        f"the data of Secret {f.secret_name!r} was changed beside the certificate and key; "
        "collecting the certificate again",
    )


def profile_changed(f: Facts) -> Decision | None:
    if f.plan is None:
        return None
    problems = []
    if f.status.ordered_cert_type is not None and f.status.ordered_cert_type != f.plan.cert_type:
        problems.append(
            f"profile {f.plan.cert_type} differs from the ordered {f.status.ordered_cert_type}"
        )
    if f.status.ordered_term is not None and f.status.ordered_term != f.plan.term:
        problems.append(f"term {f.plan.term} differs from the ordered {f.status.ordered_term}")
    if not problems:
        return None
    return Decision(Action.ORDER, "ProfileChanged", "; ".join(problems))


def replace_requested(f: Facts) -> Decision | None:
    request = f.spec.replace_request
    if request is None or request.id == f.status.last_replace_request_id:
        return None
    if f.can_replace:
        return Decision(Action.REPLACE, "ReplaceRequested", request.reason, f.rotate)
    return Decision(Action.ORDER, "ReplaceRequested", request.reason)


def renew_requested(f: Facts) -> Decision | None:
    request = f.spec.renew_request
    if request is None or request.id == f.status.last_renew_request_id:
        return None
    return Decision(
        Action.RENEW, "RenewRequested", f"spec.renewRequest.id {request.id!r}", f.rotate
    )


def certificate_expired(f: Facts) -> Decision | None:
    if not expired(f.status, f.now):
        return None
    if f.auto_renew:
        return Decision(Action.RENEW, "Expired", "the certificate expired; renewing", f.rotate)
    return Decision(
        Action.EXPIRED,
        "Expired",
        f"the certificate expired at {f.status.not_after:%Y-%m-%dT%H:%M:%SZ} and automatic "
        "renewal is off",
    )


def renewal_due(f: Facts) -> Decision | None:
    due = f.status.renewal_time
    if not f.auto_renew or due is None or f.now < due:
        return None
    return Decision(
        Action.RENEW, "RenewalDue", f"renewal time {due:%Y-%m-%dT%H:%M:%SZ} reached", f.rotate
    )


def outputs_outdated(f: Facts) -> Decision | None:
    # Certificate only (an import without its key): labels, annotations and the collect format
    # are written; the additional output formats need the key.
    keyless = f.import_without_key and f.secret.key is None
    labels, annotations = template_of(f.spec)
    missing = []
    for key, value in labels.items():
        if f.secret_labels.get(key) != value:
            missing.append(f"label {key}")
    for key, value in annotations.items():
        if f.secret_annotations.get(key) != value:
            missing.append(f"annotation {key}")
    was_labels, was_annotations = templated(f.secret_annotations)
    missing += [f"no longer wanted label {key}" for key in sorted(was_labels - set(labels))]
    missing += [
        f"no longer wanted annotation {key}" for key in sorted(was_annotations - set(annotations))
    ]
    formats = () if keyless else f.spec.additional_output_formats or ()
    wanted = {OUTPUT_FORMAT_KEYS[o.type] for o in formats}
    if f.collect_format is not None:
        wanted.add(COLLECT_FORMAT_FILES[f.collect_format])
    optional = {*OUTPUT_FORMAT_KEYS.values(), *COLLECT_FORMAT_FILES.values()}
    extra = (optional & f.secret_keys) - wanted
    absent = wanted - f.secret_keys
    if absent:
        missing.append("keys " + ", ".join(sorted(absent)))
    if extra:
        missing.append("no longer wanted keys " + ", ".join(sorted(extra)))
    if f.secret_annotations.get(ANNOTATION_CERT_UNIQUE_ID) != (f.status.cert_unique_id or ""):
        missing.append("annotations")
    stored_key, key_pem = f.secret.key, f.secret.key_pem
    encoding = policies.key_encoding(f.spec)
    if stored_key is not None and key_pem != pki.private_key_to_pem(stored_key, encoding):
        missing.append(f"tls.key in {encoding} (spec.privateKey.encoding)")

    if not missing:
        return None
    return Decision(Action.REWRITE, "SecretOutdated", "Secret lacks " + "; ".join(missing))


CHECKS: Sequence[Check] = (
    foreign_secret,
    # A revocation is for the certificate in the Secret (``status.issuedOrder``) and comes
    # before a renewal in flight or failed: that order is abandoned, it must not be revoked in
    # the certificate's place nor delay the revocation (a key compromise) for its approval.
    revoke_requested,
    operation_in_flight,
    order_failed,
    revoked,
    import_requested,
    kept_secret,
    not_issued,
    secret_deleted,
    secret_edited,
    secret_data_changed,
    profile_changed,
    names_changed,
    key_changed,
    replace_requested,
    renew_requested,
    certificate_expired,
    renewal_due,
    outputs_outdated,
)


def decide(facts: Facts, checks: Sequence[Check] = CHECKS) -> Decision:
    """The first check's answer, or READY."""
    for check in checks:
        decision = check(facts)
        if decision is not None:
            return decision
    return Decision(Action.READY, policies.REASON_ISSUED, "the certificate is in its Secret")


def jittered_renewal_time(
    not_before: datetime, not_after: datetime, window_days: int, uid: str
) -> datetime:
    """Renewal time with a deterministic per-certificate jitter.

    The base is ``policies.renewal_time`` (the start of the expiry window); the jitter moves it
    later by up to a fifth of the window, by a hash of the certificate's uid, so that a fleet
    issued together does not renew together, and still renews well before expiry.
    """
    base = policies.renewal_time(not_before, not_after, window_days)
    window = not_after - base
    fraction = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:4], "big") / 2**32
    return base + timedelta(seconds=int(window.total_seconds() * fraction / 5))
