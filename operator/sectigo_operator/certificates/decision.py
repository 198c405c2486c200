"""The trigger's vocabulary: what a step can do (``Action``), what it decided (``Decision``) and
the pure view of its inputs the checks read (``Facts``). The checks are in ``trigger``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..models import CertificateSpec, CertificateStatus
from ..models.certificate import RotationPolicy
from ..policies import EnrollPlan
from .readiness import SecretState


class Action(StrEnum):
    """What the step does."""

    IMPORT = "Import"
    """``spec.import``: collect an existing SCM certificate; nothing is ordered."""
    ADOPT = "Adopt"
    """No status yet, and the Secret, kept from a certificate of the same name (``Retain``),
    holds a certificate for this spec with its key: collect it by the SCM id the Secret records
    instead of ordering again."""
    REVOKE = "Revoke"
    """``spec.revokeRequest``: revoke at SCM once per id."""
    REVOKED = "Revoked"
    """Revoked at SCM: report it; no renewal, no SCM call (until the spec changes)."""
    WAIT_FOREIGN_SECRET = "WaitForeignSecret"  # noqa: S105 - an action, not a secret
    CONTINUE = "Continue"
    """An operation is in flight: place it (if not yet) or collect it."""
    STAY_FAILED = "StayFailed"
    ORDER = "Order"
    """A new order (first issuance, or what a replace cannot do)."""
    REPLACE = "Replace"
    RENEW = "Renew"
    RECOLLECT = "Recollect"
    REWRITE = "Rewrite"
    """Write the Secret again from what it holds (template, outputs): no SCM call."""
    EXPIRED = "Expired"
    READY = "Ready"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    message: str
    new_key: bool = True
    """For ORDER, RENEW and REPLACE: use a new key (else the key in the Secret)."""


@dataclass(frozen=True)
class Facts:
    """The pure view of one step's inputs."""

    spec: CertificateSpec
    status: CertificateStatus
    generation: int | None
    secret_name: str
    secret_exists: bool
    secret_is_ours: bool
    secret: SecretState
    secret_labels: dict[str, str]
    secret_annotations: dict[str, str]
    secret_keys: frozenset[str]
    plan: EnrollPlan | None
    """None while the config is not Ready or the spec cannot be planned (checks needing it pass)."""
    can_replace: bool
    auto_renew: bool
    now: datetime
    uid: str = ""
    collect_format: str | None = None
    """``spec.format`` or the config's default: written as an extra Secret key."""
    secret_digest: str | None = None
    """``data_digest`` of the target Secret's data (None: no Secret)."""
    revoked_at_scm: bool = False
    """The last SCM drift check listed the certificate's order as revoked."""

    @property
    def rotate(self) -> bool:
        """A new key at renewal and replacement (``rotationPolicy``, default Always)."""
        if self.spec.private_key_secret_ref is not None:
            return False
        pk = self.spec.private_key
        return (pk.rotation_policy if pk and pk.rotation_policy else RotationPolicy.ALWAYS) == (
            RotationPolicy.ALWAYS
        )

    @property
    def import_without_key(self) -> bool:
        """An import with no ``privateKeySecretRef``: a Secret without a key is expected."""
        return self.spec.import_ is not None and self.spec.private_key_secret_ref is None

    @property
    def user_key(self) -> bool:
        return self.spec.private_key_secret_ref is not None
