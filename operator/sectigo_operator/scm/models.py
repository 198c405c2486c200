"""Typed requests and answers of the SCM REST API (scm-api.md §5, §6).

Python names are snake_case; the wire names are SCM's camelCase (aliases). Answers tolerate
unknown fields (kept in ``model_extra``) and missing optional ones, because SCM adds fields between
releases. Statuses are plain strings (SCM may add values); the sets below classify them (§8).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
)
from pydantic.alias_generators import to_camel


class ScmModel(BaseModel):
    """Base of SCM payloads: camelCase on the wire, unknown fields kept, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
        coerce_numbers_to_str=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body SCM expects (camelCase, unset optional members left out)."""
        data = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        return {key: value for key, value in data.items() if value is not None}


def _parse_scm_date(value: Any) -> Any:
    """SCM dates: ``MM/dd/yyyy`` (SSL v1), ``yyyy-MM-dd`` (S/MIME), ISO date-times; else None."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    for fmt in ("%m/%d/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


ScmDate = Annotated[date | None, BeforeValidator(_parse_scm_date)]


# --- enumerations -------------------------------------------------------------------------------


class CertificateFormat(StrEnum):
    """``format`` values of collect (§5.3); the chain order is in the value's docs."""

    X509 = "x509"  # PEM, root first, leaf last
    X509R = "x509R"  # PEM, leaf first
    X509CO = "x509CO"  # PEM, leaf only
    X509IO = "x509IO"  # PEM, root + intermediates
    X509IOR = "x509IOR"  # PEM, intermediates + root
    PEM = "pem"  # PEM, like x509
    PEMCO = "pemco"  # PEM, leaf only
    PEMIA = "pemia"  # PEM, leaf then issuers
    BASE64 = "base64"  # PEM-armoured PKCS#7 (SCM's default)
    BIN = "bin"  # DER PKCS#7


class RevocationReason(IntEnum):
    """``reasonCode`` values SCM accepts on revoke (§5.11)."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5


class SslStatus(StrEnum):
    """SSL ``status`` values (§8.1)."""

    INIT = "Init"
    REQUESTED = "Requested"
    APPROVED = "Approved"
    SA_APPROVED = "SAApproved"
    APPLIED = "Applied"
    ISSUED = "Issued"
    DECLINED = "Declined"
    REJECTED = "Rejected"
    INVALID = "Invalid"
    REVOKED = "Revoked"
    EXPIRED = "Expired"
    REPLACED = "Replaced"


SSL_POLL_AGAIN: Final = frozenset(
    {"Init", "Requested", "Approved", "SAApproved", "SA Approved", "Applied"}
)
SSL_FAILED: Final = frozenset({"Declined", "Rejected", "Invalid"})
SSL_END_OF_LIFE: Final = frozenset({"Revoked", "Expired", "Replaced"})
SMIME_POLL_AGAIN: Final = frozenset({"blank", "created", "requested"})
SMIME_FAILED: Final = frozenset({"rejected"})
SMIME_END_OF_LIFE: Final = frozenset({"revoked", "pre_revoked", "expired"})


# --- catalogue ----------------------------------------------------------------------------------


class Profile(ScmModel):
    """A certificate profile (``/types``): the ``certType`` of an enrollment."""

    id: int
    name: str = ""
    description: str | None = None
    terms: list[int] = Field(default_factory=list)
    key_types: dict[str, list[str]] = Field(default_factory=dict)
    use_secondary_org_name: bool | None = None


class CustomField(ScmModel):
    """A custom field definition (``/customFields``)."""

    id: int | None = None
    name: str
    mandatory: bool = False


class CustomFieldValue(ScmModel):
    """A custom field's value in an enrollment or a details answer."""

    name: str
    value: str = ""


# --- SSL ----------------------------------------------------------------------------------------


class SslEnrollRequest(ScmModel):
    """Body of ``POST /api/ssl/v1/enroll`` (§5.2). Put the operator's marker in ``comments``."""

    org_id: int = Field(ge=1)
    csr: str
    cert_type: int = Field(ge=1)
    term: int = Field(ge=1)
    subj_alt_names: list[str] = Field(default_factory=list)
    comments: str | None = Field(default=None, max_length=1024)
    external_requester: str | None = Field(default=None, max_length=512)
    custom_fields: list[CustomFieldValue] | None = None
    dcv_mode: str | None = None
    dcv_email: str | None = None
    number_servers: int | None = None
    server_type: int | None = None

    @field_serializer("subj_alt_names")
    def _sans_as_comma_string(self, value: list[str]) -> str | None:
        return ",".join(value) if value else None


class SslEnrollResult(ScmModel):
    """Answer of an SSL enroll."""

    ssl_id: int
    renew_id: str | None = None


class SslRenewResult(ScmModel):
    """Answer of ``renewById``: the id of the NEW certificate."""

    ssl_id: int


class CertificateSummary(ScmModel):
    """``certificateDetails`` of a details or list answer."""

    issuer: str | None = None
    subject: str | None = None
    subject_alt_names: str | None = None
    md5_hash: str | None = None
    sha1_hash: str | None = None


class SslCertificate(ScmModel):
    """``GET /api/ssl/v1/{sslId}`` (§5.4)."""

    id: int | None = None
    ssl_id: int | None = None
    common_name: str | None = None
    org_id: int | None = None
    status: str = ""
    order_number: int | None = None
    backend_cert_id: str | None = None
    vendor: str | None = None
    cert_type: Profile | None = None
    validation_type: str | None = None
    term: int | None = None
    comments: str | None = None
    external_requester: str | None = None
    requester: str | None = None
    requested_via: str | None = None
    requested: ScmDate = None
    approved: ScmDate = None
    issued: ScmDate = None
    declined: ScmDate = None
    expires: ScmDate = None
    replaced: ScmDate = None
    revoked: ScmDate = None
    renewed_date: ScmDate = None
    reason_code: int | None = None
    renewed: bool | None = None
    serial_number: str | None = None
    key_type: str | None = None
    signature_alg: str | None = None
    subject_alternative_names: list[str] = Field(default_factory=list)
    custom_fields: list[CustomFieldValue] = Field(default_factory=list)
    certificate_details: CertificateSummary | None = None

    @property
    def certificate_id(self) -> int | None:
        """The sslId (``id``, or the deprecated ``sslId`` member)."""
        return self.id if self.id is not None else self.ssl_id


class SslListItem(ScmModel):
    """One entry of ``GET /api/ssl/v1`` (§5.5)."""

    ssl_id: int
    common_name: str | None = None
    subject_alternative_names: list[str] = Field(default_factory=list)
    serial_number: str | None = None


class SslListPage(BaseModel):
    """One page of an SSL list, with ``X-Total-Count`` when SCM sent it."""

    model_config = ConfigDict(frozen=True)

    items: list[SslListItem]
    total_count: int | None = None


# --- S/MIME -------------------------------------------------------------------------------------


class SmimeEnrollRequest(ScmModel):
    """Body of ``POST /api/smime/v1/enroll`` (§6.2). Put the operator's marker in ``comments``."""

    org_id: int = Field(ge=1)
    csr: str
    cert_type: int = Field(ge=1)
    term: int = Field(ge=1)
    email: str = Field(min_length=3, max_length=128)
    first_name: str = Field(min_length=1)
    middle_name: str | None = None
    last_name: str = Field(min_length=1)
    phone: str | None = None
    secondary_emails: list[str] | None = None
    custom_fields: list[CustomFieldValue] | None = None
    common_name: str | None = Field(default=None, max_length=64)
    eppn: str | None = None
    upn: str | None = None
    comments: str | None = Field(default=None, max_length=1024)


class SmimeOrder(ScmModel):
    """Answer of an S/MIME enroll or renew: ``orderNumber`` and ``backendCertId``."""

    order_number: int
    backend_cert_id: str


class SmimeListItem(ScmModel):
    """One entry of ``GET /api/smime/v2`` (§6.6); carries ``comments`` (marker search)."""

    id: int | None = None
    state: str = ""
    backend_cert_id: str | None = None
    order_number: int | None = None
    serial_number: str | None = None
    expires: ScmDate = None
    comments: str | None = None
    certificate_details: CertificateSummary | None = None


class SmimeListPage(BaseModel):
    """One page of an S/MIME list."""

    model_config = ConfigDict(frozen=True)

    items: list[SmimeListItem]
    total_count: int | None = None


class SmimeCertificate(ScmModel):
    """``GET /api/smime/v1/{id}`` (§6.6); ``status`` is lower-case."""

    id: int | None = None
    common_name: str | None = None
    org_id: int | None = None
    status: str = ""
    backend_cert_id: str | None = None
    order_number: int | None = None
    cert_type: Profile | None = None
    term: int | None = None
    requested_via: str | None = None
    requested: ScmDate = None
    issued: ScmDate = None
    expires: ScmDate = None
    revoked: ScmDate = None
    reason_code: int | None = None
    serial_number: str | None = None
    email: str | None = None
    comments: str | None = None
    subject_alternative_names: list[str] = Field(default_factory=list)
    custom_fields: list[CustomFieldValue] = Field(default_factory=list)
    certificate_details: CertificateSummary | None = None


# --- markers ------------------------------------------------------------------------------------

_MARKER_SEPARATORS = re.compile(r"[\s,;]+")
_MARKER_SHAPE = re.compile(r"[^\s,;]{1,200}")


def check_marker(marker: str) -> str:
    """Validate an enrollment marker: no whitespace, commas or semicolons, 1..200 characters."""
    if not _MARKER_SHAPE.fullmatch(marker):
        raise ValueError("marker must be 1..200 characters without whitespace, ',' or ';'")
    return marker


def comments_contain_marker(comments: str | None, marker: str) -> bool:
    """True if ``marker`` is a whole token of ``comments``.

    Tokens are separated by whitespace, commas and semicolons, so ``k8s:u:1`` does not match
    ``k8s:u:10``.
    """
    if not comments:
        return False
    return marker in _MARKER_SEPARATORS.split(comments)
