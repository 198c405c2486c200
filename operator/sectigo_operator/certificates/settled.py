"""After a restart: is a certificate settled, judged without reading its Secret?

A restarted operator resumes every certificate. For a fleet at rest the full step reads the
certificate, its Secret and its pending-key Secret and parses certificate and key, only to find
nothing to do. ``settled`` answers the same question from what the operator already has: the
certificate's body (from Kopf's listing) and what it knows of the Secret without reading it
(``Context.secrets``: one paged list at start-up, kept current by the Secret watch). It says yes
only when the last step left the certificate Ready and Issued for this very spec, the Secret
still holds exactly the data that step wrote (the digest in ``status.secretDigest``, written
only after the key was checked against the certificate), no pending key is left behind and
nothing is due. Anything else, or anything it cannot tell, is a no: the full step runs.

What the full step would find beyond this (a SectigoConfig's defaults or a profile changed
meanwhile) is found at the certificate's next step, exactly as for a running operator, which
does not wake certificates on config changes either. Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime

from ..models import (
    CertificateState,
    ConditionStatus,
    DeletionPolicy,
    SectigoCertificate,
    find_condition,
)
from ..settings import FINALIZER
from .context import WatchedSecret


def settled(
    cert: SectigoCertificate, secret: WatchedSecret | None, pending_key: bool, now: datetime
) -> bool:
    """Would the full step find nothing to do (no SCM call, no write)?"""
    meta, spec, status = cert.metadata, cert.spec, cert.status
    if status is None or meta.deletion_timestamp is not None:
        return False
    ready = find_condition(status.conditions, "Ready")
    wants_finalizer = spec.deletion_policy != DeletionPolicy.RETAIN
    checks = (
        status.observed_generation is not None and status.observed_generation == meta.generation,
        status.state == CertificateState.ISSUED,
        ready is not None and ready.status == ConditionStatus.TRUE,
        status.fingerprint is not None and status.secret_name == spec.secret_name,
        secret is not None
        and secret.certificate == meta.name
        and status.secret_digest is not None
        and secret.digest == status.secret_digest,
        not pending_key,
        (FINALIZER in (meta.finalizers or [])) == wants_finalizer,
        spec.renew_request is None or spec.renew_request.id == status.last_renew_request_id,
        spec.replace_request is None or spec.replace_request.id == status.last_replace_request_id,
        spec.revoke_request is None or spec.revoke_request.id == status.last_revoke_request_id,
        status.not_after is not None and now < status.not_after,
        status.renewal_time is None or now < status.renewal_time,
    )
    return all(checks)
