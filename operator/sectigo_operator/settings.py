"""Operator settings: one documented model, read once from the environment at start-up.

Every knob has a production default; tests and the demo shorten the intervals through the
``SECTIGO_OPERATOR_*`` environment variables (e.g. ``SECTIGO_OPERATOR_CONFIG_RECHECK_SECONDS``).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "SECTIGO_OPERATOR_"
PREFIX = "sectigo-operator.io"
"""Prefix of our labels, annotations, finalizers and Kopf's bookkeeping annotations."""

LABEL_CERTIFICATE = f"{PREFIX}/certificate"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "sectigo-operator"
LABEL_PENDING_KEY = f"{PREFIX}/pending-key"
ANNOTATION_CERT_UNIQUE_ID = f"{PREFIX}/cert-unique-id"
ANNOTATION_SCM_ID = f"{PREFIX}/scm-id"
ANNOTATION_SERIAL = f"{PREFIX}/serial-number"
ANNOTATION_CN = f"{PREFIX}/common-name"
ANNOTATION_ENROLLMENT_MARKER = f"{PREFIX}/enrollment-marker"
"""On the Secret holding a first order's key (and on the certificate Secret that replaces it)
while the order's marker is in no status yet: the next step finds the order by it."""
ANNOTATION_ENROLLMENT_IDENTITY = f"{PREFIX}/enrollment-identity"
"""Beside the marker: the name SCM lists that order under (common name, or e-mail)."""
ANNOTATION_TEMPLATE_KEYS = f"{PREFIX}/template-keys"
"""On a certificate's Secret: the label and annotation keys written from ``spec.secretTemplate``
(``labels=a,b;annotations=c``), so that a key dropped from the template goes and one added by
someone else stays."""
FINALIZER = f"{PREFIX}/deletion-policy"
"""Set only on certificates whose ``deletionPolicy`` is not ``Retain``."""
ANNOTATION_SKIP_REVOKE = f"{PREFIX}/skip-revoke"
"""``"true"`` on a certificate being deleted with ``deletionPolicy: Revoke``: skip revocation
(an emergency exit when SCM cannot be reached)."""


class OperatorSettings(BaseModel):
    """Tunables of the running operator (not of SCM orders: those live in the CRDs)."""

    model_config = ConfigDict(frozen=True)

    config_recheck_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often a SectigoConfig re-reads its credentials Secret and, when it "
        "changed or the config is not Ready, checks the credentials against SCM again.",
    )
    config_full_check_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Re-check credentials against SCM at least this often (a rejected "
        "credential is also noticed by the first certificate call that SCM refuses).",
    )
    profile_refresh_seconds: float = Field(
        default=3600.0, gt=0, description="How often a SectigoProfile is fetched again."
    )
    profile_cache_seconds: float = Field(
        default=300.0, ge=0, description="How long SCM profile lists are cached per config."
    )
    wait_config_max_delay: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait before a certificate looks at its config again.",
    )
    max_poll_delay: float = Field(
        default=300.0, gt=0, description="Longest wait between two collect attempts."
    )
    retry_max_delay: float = Field(
        default=300.0, gt=0, description="Longest backoff after a retryable SCM error."
    )
    scm_drift_check_seconds: float = Field(
        default=3600.0,
        ge=10,
        description="How often, per SectigoConfig, SCM is asked (one batched list per kind) "
        "which of the operator's certificates were revoked outside the cluster. The first check "
        "runs one period after the operator starts.",
    )
    revoke_on_delete_timeout_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long a certificate deleted with deletionPolicy Revoke retries the "
        "revocation (from its deletionTimestamp) before giving up with a Warning Event and "
        "letting the deletion finish.",
    )
    step_concurrency: int = Field(
        default=16,
        ge=1,
        description="Certificate steps running at once; the others wait in arrival order, so "
        "that in a burst the first certificates are Ready early instead of all of them sharing "
        "the CPU until the end.",
    )
    wake_concurrency: int = Field(
        default=16,
        ge=1,
        description="Certificates worked on at once when their renewal is due or their Secret "
        "changed.",
    )
    worker_threads: int = Field(
        default=32, ge=4, description="Threads for Kubernetes API calls and key generation."
    )
    list_chunk_size: int = Field(
        default=500,
        ge=0,
        description="Objects per page when the operator lists certificates and Secrets at start "
        "(0: one list, all at once); pages bound the memory a start with a large fleet needs.",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> OperatorSettings:
        env = os.environ if environ is None else environ
        values = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if ENV_PREFIX + name.upper() in env
        }
        return cls.model_validate(values)
