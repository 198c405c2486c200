"""SectigoProfile: an SCM certificate profile (``certType``) fetched and kept in status.

The equivalent of the Vault plugin's profile paths (download/read a profile keyed by
``sectigo_ssl_cert_type`` / ``sectigo_client_cert_type``, scm-api.md §10.1): the user names a
profile by id or by name; the operator fetches it from SCM (``GET /api/ssl/v1/types``,
``/api/smime/v1/types``) and certificates referring to it (``spec.profileRef``) are checked
against its terms and key types before anything is ordered.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from .common import (
    AGE_COLUMN,
    MAX_TEXT,
    READY_COLUMN,
    ApiModel,
    Cel,
    CertificateType,
    Conditions,
    CrdInfo,
    LocalObjectReference,
    PrinterColumn,
    Resource,
    Timestamp,
    immutable,
    rules,
)
from .config import ProfileId

_ONE_SELECTOR = Cel(
    "has(self.profileId) != has(self.profileName)",
    message="exactly one of spec.profileId and spec.profileName must be set",
)


class ProfileSpec(ApiModel):
    """Which SCM profile to fetch."""

    model_config = ConfigDict(json_schema_extra=rules(_ONE_SELECTOR))

    config_ref: LocalObjectReference
    """The SectigoConfig (same namespace) whose SCM account is asked."""
    certificate_type: Annotated[CertificateType, immutable("spec.certificateType")]
    """``ssl`` (``/api/ssl/v1/types``) or ``client`` (``/api/smime/v1/types``). Immutable."""
    profile_id: ProfileId | None = None
    """The profile id (``certType``), e.g. 51."""
    profile_name: str | None = Field(default=None, min_length=1, max_length=256)
    """The profile name, matched exactly; the operator resolves it to an id."""


class ProfileCustomField(ApiModel):
    """A custom field defined in SCM (``GET .../customFields``)."""

    id: int | None = None
    """SCM's id of the field."""
    name: str = Field(max_length=256)
    """Name, as sent in ``customFields[].name``."""
    mandatory: bool | None = None
    """Whether every enrollment must carry it."""


class ProfileInfo(ApiModel):
    """The profile as SCM describes it."""

    id: int | None = None
    """Profile id (``certType``)."""
    name: str | None = Field(default=None, max_length=256)
    """Profile name."""
    description: str | None = Field(default=None, max_length=MAX_TEXT * 4)
    """Profile description."""
    terms: list[int] | None = Field(default=None, max_length=64)
    """Allowed validity periods in days."""
    key_types: dict[str, list[str]] | None = None
    """Allowed keys: algorithm to sizes or curves, e.g. ``{"RSA": ["2048"], "EC": ["P-256"]}``."""
    use_secondary_org_name: bool | None = None
    """Whether the profile uses the organization's secondary name."""
    custom_fields: list[ProfileCustomField] | None = Field(default=None, max_length=64)
    """Custom fields defined for this certificate type."""


class ProfileStatus(ApiModel):
    """The fetched profile. Written by the operator."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The generation the status was computed for."""
    conditions: Conditions | None = None
    """``Ready`` (profile found) and ``Stalled`` (e.g. unknown id or name)."""
    profile: ProfileInfo | None = None
    """The profile as SCM describes it, fetched for the current spec: absent after an edit until
    the new one is fetched, and while SCM has no such profile."""
    fetched_at: Timestamp | None = None
    """When the profile was last fetched from SCM."""


class SectigoProfile(Resource):
    """An SCM certificate profile, fetched from SCM and kept in status."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="SectigoProfile",
        plural="sectigoprofiles",
        singular="sectigoprofile",
        short_names=("sprof",),
        printer_columns=(
            READY_COLUMN,
            PrinterColumn("Type", ".spec.certificateType", description="ssl or client"),
            PrinterColumn("ID", ".status.profile.id", type="integer", description="profile id"),
            PrinterColumn("Profile", ".status.profile.name", description="profile name"),
            PrinterColumn("Terms", ".status.profile.terms", description="allowed terms (days)"),
            PrinterColumn("Config", ".spec.configRef.name", priority=1),
            PrinterColumn("Fetched", ".status.fetchedAt", type="date", priority=1),
            AGE_COLUMN,
        ),
        selectable_fields=("spec.certificateType", "spec.configRef.name"),
    )

    kind: str = "SectigoProfile"
    spec: ProfileSpec
    status: ProfileStatus | None = None
