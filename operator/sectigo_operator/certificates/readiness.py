"""Is the certificate in its Secret usable? Pure inspection, and the Ready verdict from it.

``Ready=True`` only while the Secret exists, is ours, holds the certificate status names (by
fingerprint), its key matches that certificate, and it has not expired. ``inspect`` parses the
Secret once per step; ``ready_verdict`` turns the result into Ready's (status, reason, message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .. import pki, policies
from ..k8s import SecretData
from ..models import CertificateStatus

REASON_EXPIRED = "Expired"
REASON_SECRET_DELETED = "SecretDeleted"  # noqa: S105 - a reason, not a secret
REASON_CERTIFICATE_ONLY = "CertificateOnly"


@dataclass(frozen=True)
class SecretState:
    """What the target Secret holds, as far as the certificate is concerned."""

    exists: bool
    chain: pki.Chain | None = None
    info: pki.CertInfo | None = None
    key: pki.PrivateKey | None = None
    key_pem: bytes | None = None
    current: bool = False
    """Its leaf is the certificate status says was issued (same fingerprint)."""
    key_matches: bool = False

    @property
    def healthy(self) -> bool:
        return self.exists and self.current and self.key_matches


def inspect(secret: SecretData | None, fingerprint: str | None) -> SecretState:
    """Parse the Secret's chain and key (never raises; what is unreadable counts as absent)."""
    if secret is None:
        return SecretState(exists=False)
    chain = info = key = None
    try:
        certs = pki.parse_pem_chain(secret.data.get("tls.crt", b""))
        if secret.data.get("ca.crt"):  # the root, which tls.crt leaves out
            known = set(certs)
            certs += [c for c in pki.parse_pem_chain(secret.data["ca.crt"]) if c not in known]
        chain = pki.order_chain(certs)
        info = pki.cert_info(chain.leaf)
    except pki.PkiError:
        chain = info = None
    raw = secret.data.get("tls.key")
    try:
        key = pki.load_private_key(raw, trusted=True) if raw else None
    except pki.PkiError:
        key = None
    return SecretState(
        exists=True,
        chain=chain,
        info=info,
        key=key,
        key_pem=raw if key is not None else None,
        current=info is not None
        and fingerprint is not None
        and info.fingerprint_sha256 == fingerprint,
        key_matches=chain is not None and key is not None and pki.cert_matches_key(chain.leaf, key),
    )


def expired(status: CertificateStatus, now: datetime) -> bool:
    return status.not_after is not None and now >= status.not_after


def ready_message(status: CertificateStatus, secret_name: str) -> str:
    """Ready's message while the certificate is usable."""
    until = f", valid until {status.not_after:%Y-%m-%dT%H:%M:%SZ}" if status.not_after else ""
    return f"certificate {status.cert_unique_id} is in Secret {secret_name!r}{until}"


def certificate_only_verdict(status: CertificateStatus, secret_name: str) -> tuple[bool, str, str]:
    """Ready for an import without its key: never True (there is no key to match)."""
    return (
        False,
        REASON_CERTIFICATE_ONLY,
        f"certificate {status.cert_unique_id} was imported without its private key: Secret "
        f"{secret_name!r} holds the certificate and chain only (add spec.privateKeySecretRef "
        "to complete it; a renewal makes a new key)",
    )


def ready_verdict(
    state: SecretState,
    status: CertificateStatus,
    secret_name: str,
    now: datetime,
    certificate_only: bool = False,
) -> tuple[bool, str, str]:
    """Ready's (status, reason, message) from the Secret alone (``certificate_only``: the spec
    imports without a key, so a Secret without one is what it should hold)."""
    if certificate_only and state.current and state.key is None and not expired(status, now):
        return certificate_only_verdict(status, secret_name)
    if state.healthy and not expired(status, now):
        return True, policies.REASON_ISSUED, ready_message(status, secret_name)
    if state.healthy:
        return False, REASON_EXPIRED, f"the certificate in Secret {secret_name!r} has expired"
    if not state.exists:
        return False, REASON_SECRET_DELETED, f"Secret {secret_name!r} does not exist"
    return (
        False,
        policies.REASON_KEY_MISMATCH,
        f"Secret {secret_name!r} does not hold the issued certificate with its key",
    )
