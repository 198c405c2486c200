"""SectigoCertificate: one SSL or client (S/MIME) certificate ordered from SCM into a Secret.

The spec covers the Vault plugin's enroll, import (fetch), renew, replace and revoke parameters
(scm-api.md §10.1-§10.3) with cert-manager's names where they fit (``secretName``,
``commonName``, ``dnsNames``, ``subject``, ``privateKey``, ``secretTemplate`` ...). The status is
the operator's contract with the user and with itself: SCM ids, the enrollment in flight
(written before SCM is called), state, bounded history, last error and the processed one-shot
request ids.

Private keys and passwords never appear here: an existing key can only be named by a Secret
reference, and unknown fields are pruned by the API server (rejected with
``--validate=strict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field

from .common import (
    AGE_COLUMN,
    KEY_SIZE_RULE,
    MAX_TEXT,
    READY_COLUMN,
    ApiModel,
    Cel,
    CertificateType,
    Conditions,
    CrdInfo,
    CustomFields,
    Email,
    KeyAlgorithm,
    LocalObjectReference,
    ObjectName,
    PrinterColumn,
    Resource,
    SchemaExtra,
    SecretKey,
    Timestamp,
    immutable,
    rules,
)
from .config import (
    CollectFormat,
    Comments,
    ConfigSpec,
    ExternalRequester,
    ProfileId,
    RenewalOverride,
    RenewalPolicy,
    Term,
)

DEFAULT_HISTORY_LIMIT = 20
"""Entries kept in ``status.history`` when ``spec.historyLimit`` is unset."""
MAX_HISTORY_LIMIT = 50

# ----------------------------------------------------------------------------- spec pieces
_LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
DnsName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$"),
]
IpAddress = Annotated[
    str,
    Field(max_length=45),
    Cel("isIP(self)", message="must be an IPv4 or IPv6 address"),
]
Uri = Annotated[
    str,
    Field(max_length=2048, pattern=r"^[\x21-\x7e]+$"),
    Cel("isURL(self)", message="must be a URI"),
]
"""A URI SAN: printable ASCII (an X.509 URI is an IA5String; percent-encode the rest)."""
PRINTABLE = r"^[^\x00-\x1F\x7F\x{200E}\x{200F}\x{202A}-\x{202E}\x{2066}-\x{2069}]+$"
"""No control characters and no bidirectional overrides (they make a name display as another,
and SCM answers them with server errors); RE2 and Rust regex syntax alike."""


def _at_most_64_bytes(value: str) -> str:
    if len(value.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"must be at most {MAX_NAME_BYTES} bytes in UTF-8")
    return value


MAX_NAME_BYTES = 64
"""X.509's upper bound for a commonName, which the cryptography library counts in UTF-8 bytes
(64 emoji are 64 characters but 256 bytes): the CSR could not be built."""
_BYTES_RULE = Cel(
    f"size(bytes(self)) <= {MAX_NAME_BYTES}",
    message=f"must be at most {MAX_NAME_BYTES} bytes in UTF-8",
)
Name = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=PRINTABLE),
    _BYTES_RULE,
    AfterValidator(_at_most_64_bytes),
]
"""SCM: ``first + ' ' + middle + ' ' + last`` must be 1-64 characters (and 64 bytes, for the
CSR's commonName)."""
SubjectValues = Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=16)]
RequestId = Annotated[str, Field(min_length=1, max_length=128)]
"""An arbitrary token naming a one-shot request; change it to ask again."""


class Subject(ApiModel):
    """Subject fields of the CSR the operator generates (cert-manager's ``subject``; the Vault
    plugin's ``sectigo_csr_country/_state/_location/_organization/_organization_unit``)."""

    organizations: SubjectValues | None = None
    """O."""
    countries: (
        Annotated[list[Annotated[str, Field(min_length=2, max_length=2)]], Field(max_length=4)]
        | None
    ) = None
    """C (two-letter codes)."""
    organizational_units: SubjectValues | None = None
    """OU."""
    localities: SubjectValues | None = None
    """L."""
    provinces: SubjectValues | None = None
    """ST."""
    street_addresses: SubjectValues | None = None
    """street."""
    postal_codes: SubjectValues | None = None
    """postalCode."""
    serial_number: str | None = Field(default=None, max_length=64)
    """serialNumber attribute of the subject (not the certificate serial)."""
    email_address: Email | None = None
    """emailAddress attribute (Vault ``sectigo_csr_email_address``)."""


class RotationPolicy(StrEnum):
    """Whether a renewal or replacement uses a new key."""

    ALWAYS = "Always"
    NEVER = "Never"


class KeyEncoding(StrEnum):
    """PEM encoding of ``tls.key``."""

    PKCS1 = "PKCS1"
    PKCS8 = "PKCS8"


class CertificatePrivateKey(ApiModel):
    """The key the operator generates (cert-manager's ``privateKey``). Unset algorithm and size
    come from the SectigoConfig's ``privateKey``."""

    model_config = ConfigDict(json_schema_extra=rules(KEY_SIZE_RULE))

    algorithm: KeyAlgorithm | None = None
    """``RSA`` or ``ECDSA``."""
    size: int | None = None
    """RSA: 2048, 3072, 4096; ECDSA: 256, 384, 521."""
    rotation_policy: RotationPolicy | None = None
    """``Always`` (default for generated keys: a new key at every renewal and replacement) or
    ``Never`` (keep the key). A key from ``privateKeySecretRef`` is never rotated."""
    encoding: KeyEncoding = KeyEncoding.PKCS1
    """``PKCS1`` or ``PKCS8`` PEM for ``tls.key``."""


class SecretKeyRef(ApiModel):
    """A key in a Secret in the certificate's namespace."""

    name: ObjectName
    """Name of the Secret."""


class CsrSecretRef(SecretKeyRef):
    """A Secret holding an existing PEM CSR."""

    key: SecretKey = "tls.csr"
    """Key holding the PEM CSR."""


class PrivateKeySecretRef(SecretKeyRef):
    """A Secret holding an existing PEM private key (the only way to supply a key)."""

    key: SecretKey = "tls.key"
    """Key holding the PEM private key."""


class PasswordSecretRef(SecretKeyRef):
    """A Secret holding a password."""

    key: SecretKey = "password"
    """Key holding the password."""


_IMPORT_ONE = Cel(
    "has(self.sslId) != has(self.orderNumber)",
    message="exactly one of spec.import.sslId and spec.import.orderNumber must be set",
)


class ImportSource(ApiModel):
    """Adopt a certificate that already exists in SCM instead of ordering one (the Vault
    plugin's ``fetch``)."""

    model_config = ConfigDict(json_schema_extra=rules(_IMPORT_ONE))

    ssl_id: int | None = Field(default=None, ge=1)
    """SSL certificate id (``sslId``), for ``certificateType: ssl``."""
    order_number: int | None = Field(default=None, ge=1)
    """Client certificate order number (``orderNumber`` / ``backendCertId``), for ``client``."""


class DeletionPolicy(StrEnum):
    """What happens when the SectigoCertificate is deleted."""

    RETAIN = "Retain"
    DELETE_SECRET = "DeleteSecret"  # noqa: S105 (a policy name, not a password)
    REVOKE = "Revoke"


class DcvMode(StrEnum):
    """Domain control validation method (SCM ``dcvMode``)."""

    CNAME = "CNAME"
    EMAIL = "EMAIL"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TXT = "TXT"


_NOT_OURS = Cel(
    "self.all(k, k != 'app.kubernetes.io/managed-by' && !k.startsWith('sectigo-operator.io/'))",
    message="the operator's own keys (app.kubernetes.io/managed-by, sectigo-operator.io/...) "
    "cannot be set by secretTemplate",
)


class SecretTemplate(ApiModel):
    """Labels and annotations copied to the Secret (cert-manager's ``secretTemplate``)."""

    labels: Annotated[dict[str, str] | None, _NOT_OURS] = Field(default=None, max_length=64)
    """Labels to add to the Secret (not the operator's own: ``app.kubernetes.io/managed-by``
    and the ``sectigo-operator.io/`` prefix)."""
    annotations: Annotated[dict[str, str] | None, _NOT_OURS] = Field(default=None, max_length=64)
    """Annotations to add to the Secret (not the operator's own, as for labels)."""


class OutputFormatType(StrEnum):
    """An extra representation written to the Secret."""

    COMBINED_PEM = "CombinedPEM"
    DER = "DER"
    PKCS12 = "PKCS12"


OUTPUT_FORMAT_KEYS = {
    OutputFormatType.COMBINED_PEM: "tls-combined.pem",
    OutputFormatType.DER: "key.der",
    OutputFormatType.PKCS12: "keystore.p12",
}
"""The Secret data key each additional output format is written to."""

_PKCS12_PASSWORD = Cel(
    "(self.type == 'PKCS12') == has(self.passwordSecretRef)",
    message="passwordSecretRef is required for type PKCS12 and not allowed otherwise",
    field_path=".passwordSecretRef",
)


class AdditionalOutputFormat(ApiModel):
    """An additional output format (cert-manager's ``additionalOutputFormats``): ``CombinedPEM``
    (key then chain, key ``tls-combined.pem``), ``DER`` (the key, key ``key.der``), ``PKCS12``
    (key and chain, key ``keystore.p12``, encrypted with the password from
    ``passwordSecretRef``)."""

    model_config = ConfigDict(json_schema_extra=rules(_PKCS12_PASSWORD))

    type: OutputFormatType
    """``CombinedPEM``, ``DER`` or ``PKCS12``."""
    password_secret_ref: PasswordSecretRef | None = None
    """PKCS12 only: the Secret holding the keystore password."""


class RenewRequest(ApiModel):
    """Ask for one renewal now (SSL ``renewById``, client ``renew/order``)."""

    id: RequestId
    """Any token; the operator acts once per distinct id (see ``status.lastRenewRequestId``)."""


class ReplaceRequest(ApiModel):
    """Ask for one replacement (re-issue, new key unless ``rotationPolicy: Never``)."""

    id: RequestId
    """Any token; the operator acts once per distinct id."""
    reason: str = Field(min_length=1, max_length=512)
    """Reason sent to SCM (Vault ``sectigo_replace_reason``)."""


class RevokeRequest(ApiModel):
    """Ask for the certificate to be revoked at SCM. Irreversible."""

    id: RequestId
    """Any token; the operator acts once per distinct id."""
    reason_code: Literal[0, 1, 3, 4, 5] = 0
    """0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded,
    5 cessationOfOperation."""
    reason: str = Field(min_length=1, max_length=512)
    """Reason text sent to SCM (Vault ``sectigo_revoke_reason``)."""


# ----------------------------------------------------------------------------- spec rules
_SSL_ONLY = ("dnsNames", "ipAddresses", "uris", "emailAddresses", "dcvMode", "dcvEmail")
_CLIENT_ONLY = (
    "email",
    "firstName",
    "middleName",
    "lastName",
    "phone",
    "secondaryEmails",
    "eppn",
    "upn",
)


def _none_of(fields: Sequence[str]) -> str:
    return " && ".join(f"!has(self.{name})" for name in fields)


_SPEC_RULES = (
    Cel(
        "self.certificateType != 'ssl' || has(self.commonName) || has(self.dnsNames)"
        " || has(self.csr) || has(self.csrSecretRef) || has(self.__import__)",
        message="an ssl certificate needs spec.commonName or spec.dnsNames (or a CSR, or import)",
        field_path=".commonName",
        reason="FieldValueRequired",
    ),
    Cel(
        "self.certificateType != 'client' || has(self.__import__) || has(self.email)",
        message="a client certificate needs spec.email",
        field_path=".email",
        reason="FieldValueRequired",
    ),
    Cel(
        "self.certificateType != 'client' || has(self.__import__)"
        " || (has(self.firstName) && has(self.lastName))",
        message="a client certificate needs spec.firstName and spec.lastName",
        field_path=".firstName",
        reason="FieldValueRequired",
    ),
    Cel(
        "self.certificateType == 'client' || (" + _none_of(_CLIENT_ONLY) + ")",
        message="spec." + ", spec.".join(_CLIENT_ONLY) + " are for client certificates only",
        reason="FieldValueForbidden",
    ),
    Cel(
        "self.certificateType == 'ssl' || (" + _none_of(_SSL_ONLY) + ")",
        message="spec." + ", spec.".join(_SSL_ONLY) + " are for ssl certificates only",
        reason="FieldValueForbidden",
    ),
    Cel(
        "!(has(self.profileRef) && has(self.certType))",
        message="set at most one of spec.profileRef and spec.certType",
        field_path=".certType",
        reason="FieldValueForbidden",
    ),
    Cel(
        "!(has(self.csr) && has(self.csrSecretRef))",
        message="set at most one of spec.csr and spec.csrSecretRef",
        field_path=".csrSecretRef",
        reason="FieldValueForbidden",
    ),
    Cel(
        "!(has(self.csr) || has(self.csrSecretRef)) || has(self.privateKeySecretRef)",
        message=(
            "spec.privateKeySecretRef is required with spec.csr or spec.csrSecretRef:"
            " the Secret needs the key that belongs to the CSR"
        ),
        field_path=".privateKeySecretRef",
        reason="FieldValueRequired",
    ),
    Cel(
        "!has(self.__import__) || !(has(self.csr) || has(self.csrSecretRef))",
        message="spec.import cannot be combined with spec.csr or spec.csrSecretRef",
        field_path=".import",
        reason="FieldValueForbidden",
    ),
    Cel(
        "!has(self.__import__) || (self.certificateType == 'ssl'"
        " ? has(self.__import__.sslId) : has(self.__import__.orderNumber))",
        message="spec.import needs sslId for an ssl certificate and orderNumber for a client one",
        field_path=".import",
    ),
    Cel(
        "!has(self.privateKeySecretRef) || !has(self.privateKey)"
        " || !has(self.privateKey.rotationPolicy) || self.privateKey.rotationPolicy == 'Never'",
        message=(
            "spec.privateKey.rotationPolicy must be Never with spec.privateKeySecretRef:"
            " the operator never rotates a key it does not own"
        ),
        field_path=".privateKey.rotationPolicy",
        reason="FieldValueForbidden",
    ),
)

_CSR_RULE = Cel(
    "self.contains('CERTIFICATE REQUEST-----') && !self.contains('PRIVATE KEY')",
    message=(
        "spec.csr must be a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----) and"
        " must not contain a private key; put an existing key in a Secret and use"
        " spec.privateKeySecretRef"
    ),
)


class CertificateSpec(ApiModel):
    """The certificate wanted. Unset enrollment settings come from the SectigoConfig."""

    model_config = ConfigDict(json_schema_extra=rules(*_SPEC_RULES))

    config_ref: Annotated[LocalObjectReference, immutable("spec.configRef")]
    """The SectigoConfig (same namespace) to order with. Immutable: the SCM ids in status
    belong to that config's SCM account."""
    certificate_type: Annotated[CertificateType, immutable("spec.certificateType")]
    """``ssl`` or ``client`` (S/MIME). Immutable."""
    secret_name: Annotated[ObjectName, immutable("spec.secretName")]
    """The ``kubernetes.io/tls`` Secret the operator writes (``tls.crt``, ``tls.key``,
    ``ca.crt``). Immutable."""

    # --- subject and SANs (SSL)
    common_name: Name | None = None
    """CN (Vault ``sectigo_csr_domain`` / ``sectigo_ssl_cert_common_name``). For a client
    certificate SCM defaults it to the person's full name."""
    dns_names: Annotated[list[DnsName], Field(min_length=1, max_length=100)] | None = None
    """DNS SANs (Vault ``sectigo_ssl_cert_subject_alt_names``). SSL only."""
    ip_addresses: Annotated[list[IpAddress], Field(min_length=1, max_length=100)] | None = None
    """IP SANs. SSL only."""
    uris: Annotated[list[Uri], Field(min_length=1, max_length=100)] | None = None
    """URI SANs. SSL only."""
    email_addresses: Annotated[list[Email], Field(min_length=1, max_length=100)] | None = None
    """E-mail SANs of an SSL certificate, if the profile allows them."""
    subject: Subject | None = None
    """Further subject fields of the generated CSR."""

    # --- the person (client)
    email: Email | None = None
    """The person's e-mail address (Vault ``sectigo_client_cert_email``). Client only,
    required there."""
    first_name: Name | None = None
    """First name. Client only, required there."""
    middle_name: Name | None = None
    """Middle name. Client only."""
    last_name: Name | None = None
    """Last name. Client only, required there."""
    phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9#()+x \-]*$")
    """Phone number. Client only."""
    secondary_emails: Annotated[list[Email], Field(max_length=16)] | None = None
    """Further e-mail addresses. Client only."""
    eppn: str | None = Field(default=None, max_length=128)
    """eduPersonPrincipalName. Client only."""
    upn: str | None = Field(default=None, max_length=256)
    """User principal name. Client only."""

    # --- enrollment
    profile_ref: LocalObjectReference | None = None
    """A SectigoProfile (same namespace) to order with; the request is checked against it.
    At most one of ``profileRef`` and ``certType``; neither: the config's default."""
    cert_type: ProfileId | None = None
    """SCM profile id (``certType``)."""
    term: Term | None = None
    """Validity in days; must be one of the profile's terms. Unset: the config's default."""
    format: CollectFormat | None = None
    """SCM collect format. Unset: the config's default."""
    comments: Comments | None = None
    """Comments stored with the order. The operator appends its enrollment marker."""
    external_requester: ExternalRequester | None = None
    """Notification e-mail(s) (``externalRequester``). SSL."""
    custom_fields: CustomFields | None = None
    """Custom fields; merged over the config's by name."""
    server_type: int | None = Field(default=None, ge=-1)
    """Legacy ``serverType``. Unset: the config's (-1). SSL."""
    number_servers: int | None = Field(default=None, ge=0, le=1000)
    """Legacy ``numberServers``. SSL."""
    dcv_mode: DcvMode | None = None
    """Domain control validation method, if SCM requires one. SSL only."""
    dcv_email: Email | None = None
    """Address for ``dcvMode: EMAIL``. SSL only."""

    # --- keys and CSRs
    private_key: CertificatePrivateKey | None = None
    """The key the operator generates."""
    csr: Annotated[str, Field(min_length=64, max_length=32767), _CSR_RULE] | None = None
    """An existing PEM CSR, inline (a CSR is not secret). Needs ``privateKeySecretRef``."""
    csr_secret_ref: CsrSecretRef | None = None
    """An existing PEM CSR in a Secret. Needs ``privateKeySecretRef``."""
    private_key_secret_ref: PrivateKeySecretRef | None = None
    """An existing PEM private key in a Secret (never inline). Without a CSR the operator
    builds the CSR from this key."""
    import_: Annotated[ImportSource, immutable("spec.import")] | None = Field(
        default=None, alias="import"
    )
    """Adopt an existing SCM certificate instead of ordering one. Immutable once set. With
    ``privateKeySecretRef`` (SCM does not hold the key) the Secret is complete; without it the
    Secret holds the certificate and chain only and Ready says ``CertificateOnly``."""

    # --- lifecycle
    renewal: RenewalOverride | None = None
    """Renewal settings; unset fields come from the config's ``renewal``."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """On deletion: ``Retain`` (keep the SCM certificate and the Secret), ``DeleteSecret``
    (delete the Secret, keep the SCM certificate valid) or ``Revoke`` (revoke at SCM with
    reasonCode 5 cessationOfOperation, then delete the Secret)."""
    history_limit: int = Field(default=DEFAULT_HISTORY_LIMIT, ge=1, le=MAX_HISTORY_LIMIT)
    """Entries kept in ``status.history``."""
    secret_template: SecretTemplate | None = None
    """Labels and annotations for the Secret."""
    additional_output_formats: (
        Annotated[
            list[AdditionalOutputFormat],
            Field(max_length=3),
            SchemaExtra({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
        ]
        | None
    ) = None
    """Extra representations written to the Secret."""

    # --- one-shot requests
    renew_request: RenewRequest | None = None
    """Renew now, once per ``id``."""
    replace_request: ReplaceRequest | None = None
    """Replace (re-issue) now, once per ``id``."""
    revoke_request: RevokeRequest | None = None
    """Revoke at SCM, once per ``id``."""

    def effective_renewal(self, config: ConfigSpec) -> RenewalPolicy:
        """The renewal policy after applying this certificate's overrides to the config's."""
        base = config.renewal
        own = self.renewal or RenewalOverride()
        return RenewalPolicy(
            auto_renew=base.auto_renew if own.auto_renew is None else own.auto_renew,
            expiry_window_days=own.expiry_window_days or base.expiry_window_days,
        )


# ----------------------------------------------------------------------------- status
class CertificateState(StrEnum):
    """The operator's own state of a certificate (shown in ``status.state`` and history)."""

    PENDING = "Pending"
    ENROLLING = "Enrolling"
    REQUESTED = "Requested"
    APPLIED = "Applied"
    TIMED_OUT_STATE_SAVED = "TimedOutStateSaved"
    ISSUED = "Issued"
    RENEWING = "Renewing"
    REPLACING = "Replacing"
    REVOKING = "Revoking"
    REVOKED = "Revoked"
    EXPIRED = "Expired"
    FAILED = "Failed"


class EnrollmentOperation(StrEnum):
    """The SCM call an enrollment marker belongs to."""

    ENROLL = "Enroll"
    RENEW = "Renew"
    REPLACE = "Replace"


class HistoryEntry(ApiModel):
    """One state transition."""

    status: str = Field(max_length=64)
    """The state (``CertificateState``) or SCM status reached."""
    timestamp: Timestamp
    """When."""
    message: str | None = Field(default=None, max_length=MAX_TEXT)
    """What happened."""


class ScmError(ApiModel):
    """The last error SCM returned (``{code, description}``)."""

    code: int | None = None
    """SCM error code (negative; 0 for "being processed")."""
    description: str | None = Field(default=None, max_length=MAX_TEXT * 4)
    """SCM's description."""
    http_status: int | None = None
    """HTTP status of the answer."""
    timestamp: Timestamp | None = None
    """When it was received."""


class IssuedOrder(ApiModel):
    """SCM's ids of the certificate in the Secret. They differ from the order ids beside them
    while a renewal (a new order) is in flight or after it failed."""

    ssl_id: int | None = None
    """``sslId`` (SSL certificates)."""
    order_number: int | None = None
    """``orderNumber`` (client certificates)."""
    backend_cert_id: str | None = Field(default=None, max_length=64)
    """``backendCertId`` (client certificates)."""


class Enrollment(ApiModel):
    """The SCM order in flight, written to status before SCM is called (duplicate-order
    protection, docs/design.md)."""

    marker: str = Field(max_length=256)
    """``k8s:<uid>:<attempt>``; also sent in the order's ``comments``."""
    started_at: Timestamp | None = None
    """When the call was started."""
    operation: EnrollmentOperation | None = None
    """``Enroll``, ``Renew`` or ``Replace``."""
    attempt: int | None = Field(default=None, ge=0)
    """Attempt counter that is part of the marker."""
    source_id: int | None = None
    """Renew and Replace: the SCM id (sslId, or the client order number) renewed or replaced."""
    placed: bool | None = None
    """True once SCM's answer to the call was recorded (or the order adopted)."""
    reason: str | None = Field(default=None, max_length=MAX_TEXT)
    """Why the operation was started (the trigger's message)."""
    identity: str | None = Field(default=None, max_length=MAX_TEXT)
    """The name SCM lists the order under (the common name, or the client certificate's
    e-mail) when the operation was started; an order or renewal whose answer was lost is looked
    up under it, whatever the spec says since."""


class CertificateStatus(ApiModel):
    """What the operator knows about the certificate. Written by the operator with merge
    patches; every field is optional."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The generation the status was computed for."""
    conditions: Conditions | None = None
    """``Ready``, ``Issuing`` and ``Stalled`` (kstatus semantics)."""
    state: CertificateState | None = None
    """The operator's state."""
    scm_status: str | None = Field(default=None, max_length=64)
    """The SCM status (SSL: ``Applied``, ``Issued`` ...; client: ``requested``, ``issued`` ...)."""
    cert_unique_id: str | None = Field(default=None, max_length=512)
    """``<sslId|orderNumber>_<customerUri>``, as the Vault plugin shows it."""
    ssl_id: int | None = None
    """SCM SSL certificate id."""
    order_number: int | None = None
    """SCM order number (client certificates; also on SSL details)."""
    backend_cert_id: str | None = Field(default=None, max_length=64)
    """SCM ``backendCertId`` (client certificates)."""
    renew_id: str | None = Field(default=None, max_length=64)
    """SCM ``renewId`` of the SSL order."""
    secret_name: str | None = Field(default=None, max_length=253)
    """The Secret last written."""
    secret_digest: str | None = Field(default=None, max_length=64)
    """SHA-256 of the data the operator last wrote to that Secret (hex; never the data): after
    a restart, a certificate whose Secret still holds exactly this data is judged from the
    Secret watch, without reading or parsing it again."""
    not_before: Timestamp | None = None
    """Start of validity of the certificate in the Secret."""
    not_after: Timestamp | None = None
    """End of validity."""
    renewal_time: Timestamp | None = None
    """When the operator will renew (``notAfter`` minus the expiry window)."""
    serial_number: str | None = Field(default=None, max_length=128)
    """Certificate serial number (hex)."""
    fingerprint: str | None = Field(default=None, max_length=128)
    """SHA-256 fingerprint of the certificate (hex)."""
    issued_order: IssuedOrder | None = None
    """SCM's ids of the certificate in the Secret: what ``spec.revokeRequest`` and
    ``deletionPolicy: Revoke`` revoke, whatever order is in flight."""
    enrollment: Enrollment | None = None
    """The order in flight, if any."""
    collect_started_at: Timestamp | None = None
    """When collecting the current order started (for ``maxTimeout``)."""
    failed_attempts: int | None = Field(default=None, ge=0)
    """Consecutive failed attempts."""
    last_error: ScmError | None = None
    """The last SCM error."""
    ordered_cert_type: int | None = None
    """The SCM profile id (``certType``) of the last order SCM accepted (recorded when it was
    placed; a new order follows when the spec asks for another)."""
    ordered_term: int | None = None
    """The term (days) of that order."""
    history: Annotated[list[HistoryEntry], Field(max_length=MAX_HISTORY_LIMIT)] | None = None
    """State transitions, oldest first, at most ``spec.historyLimit``."""
    last_renew_request_id: str | None = Field(default=None, max_length=128)
    """The ``spec.renewRequest.id`` last acted on."""
    last_replace_request_id: str | None = Field(default=None, max_length=128)
    """The ``spec.replaceRequest.id`` last acted on."""
    last_revoke_request_id: str | None = Field(default=None, max_length=128)
    """The ``spec.revokeRequest.id`` last acted on."""


def append_history(
    history: Sequence[HistoryEntry] | None,
    status: str,
    now: datetime,
    message: str | None = None,
    limit: int = DEFAULT_HISTORY_LIMIT,
) -> list[HistoryEntry]:
    """``history`` plus a new entry, keeping the newest ``limit`` entries."""
    entries = [*(history or ()), HistoryEntry(status=status, timestamp=now, message=message)]
    return entries[-max(1, min(limit, MAX_HISTORY_LIMIT)) :]


def cert_unique_id(scm_id: int | str, customer_uri: str) -> str:
    """The Vault plugin's ``sectigo_cert_unique_id``: ``<sslId|orderNumber>_<customerUri>``."""
    return f"{scm_id}_{customer_uri}"


class SectigoCertificate(Resource):
    """An SSL or client certificate ordered from SCM and kept in a Secret."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="SectigoCertificate",
        plural="sectigocertificates",
        singular="sectigocertificate",
        rules=(
            Cel(
                "size(self.metadata.name) <= 63",
                message="metadata.name: at most 63 characters (the name is a label value on "
                "the certificate's Secrets)",
            ),
        ),
        short_names=("scert", "scerts"),
        printer_columns=(
            READY_COLUMN,
            PrinterColumn("Type", ".spec.certificateType", description="ssl or client"),
            PrinterColumn(
                "CN/E-mail", ".spec['commonName','email']", description="common name or e-mail"
            ),
            PrinterColumn("SCM Status", ".status.scmStatus", description="status at SCM"),
            PrinterColumn("Expires", ".status.notAfter", description="notAfter (RFC 3339)"),
            PrinterColumn(
                "SCM ID",
                ".status['sslId','orderNumber']",
                description="sslId or order number",
                priority=1,
            ),
            PrinterColumn("State", ".status.state", priority=1),
            PrinterColumn("Secret", ".spec.secretName", priority=1),
            PrinterColumn("Config", ".spec.configRef.name", priority=1),
            AGE_COLUMN,
        ),
        selectable_fields=("spec.certificateType", "spec.configRef.name", "spec.secretName"),
    )

    kind: str = "SectigoCertificate"
    spec: CertificateSpec
    status: CertificateStatus | None = None
