"""SectigoConfig: how to reach one SCM account, and the defaults for its enrollments.

The equivalent of a Vault plugin config entry (``configs/<name>``, scm-api.md §10.1/§10.2): base
URL, customer URI, organization id, credentials (a Secret reference, never inline) and the
enrollment, collect, renewal and private-key defaults that certificates inherit.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from .common import (
    AGE_COLUMN,
    KEY_SIZE_RULE,
    MAX_TEXT,
    OBJECT_DEFAULT,
    READY_COLUMN,
    ApiModel,
    Cel,
    Conditions,
    CrdInfo,
    CustomFields,
    KeyAlgorithm,
    ObjectName,
    PrinterColumn,
    Resource,
    SecretKey,
    Timestamp,
    rules,
)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_URL_RULE = Cel(
    "isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http'"
    " && url(self).getHostname() in ['127.0.0.1', 'localhost', '::1']))",
    message_expression=(
        "'spec.url must be an https:// URL (http:// only for a loopback host such as"
        " 127.0.0.1), got ' + self"
    ),
)

_URL_PARTS_RULE = Cel(
    "!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@') && !self.contains('?')"
    " && !self.contains('#')",
    message="spec.url must not hold user info (user:password@; the credentials are in the"
    " Secret), a query or a fragment",
)

Url = Annotated[str, Field(min_length=8, max_length=2048), _URL_RULE, _URL_PARTS_RULE]
Term = Annotated[int, Field(ge=1, le=3650)]
"""Validity in days (SCM ``term``; must be one of the profile's terms)."""
Comments = Annotated[str, Field(max_length=MAX_TEXT)]
ExternalRequester = Annotated[str, Field(max_length=512)]
"""One e-mail address or a comma-separated list (SCM ``externalRequester``)."""
ProfileId = Annotated[int, Field(ge=1)]
"""An SCM certificate profile id (SCM ``certType``; the Vault plugin's ``*_cert_type``)."""


class CollectFormat(StrEnum):
    """SCM collect ``format`` (the Vault plugin's ``*_format_type``; scm-api.md §5.3)."""

    X509 = "x509"
    X509_CERT_ONLY = "x509CO"
    X509_CHAIN_ONLY = "x509IO"
    X509_CHAIN_ONLY_REVERSED = "x509IOR"
    X509_REVERSED = "x509R"
    PEM = "pem"
    PEM_CERT_ONLY = "pemco"
    PEM_ISSUER_AFTER = "pemia"
    BASE64 = "base64"
    BIN = "bin"


class CredentialsSecretRef(ApiModel):
    """A Secret with the SCM admin login and password (password authentication)."""

    name: ObjectName
    """Name of the Secret, in the config's namespace."""
    login_key: SecretKey = "login"
    """Key holding the admin login name."""
    password_key: SecretKey = "password"  # noqa: S105 (a key name)
    """Key holding the password."""


class ClientCertificateSecretRef(ApiModel):
    """A ``kubernetes.io/tls`` Secret with an admin's client certificate (certificate
    authentication: requests go to SCM's ``/private/api/...`` paths with the login header and
    this certificate, no password)."""

    name: ObjectName
    """Name of the Secret (``tls.crt``, ``tls.key``), in the config's namespace."""
    login_key: SecretKey = "login"
    """Key in the same Secret holding the admin login name the certificate belongs to."""


class SslDefaults(ApiModel):
    """Enrollment defaults for SSL certificates (the Vault plugin's ``sectigo_ssl_cert_*``)."""

    cert_type: ProfileId | None = None
    """Default SSL profile id (``certType``; Vault ``sectigo_ssl_cert_type``, e.g. 51)."""
    term: Term | None = None
    """Default validity in days (Vault ``sectigo_ssl_cert_validity``, e.g. 365)."""
    format: CollectFormat | None = None
    """Collect format (Vault ``sectigo_ssl_cert_format_type``); unset: the operator's choice."""
    server_type: int = Field(default=-1, ge=-1)
    """Legacy ``serverType``; every client sends -1 (OTHER)."""
    number_servers: int | None = Field(default=None, ge=0, le=1000)
    """Legacy ``numberServers`` (server licence count; Vault samples use 1)."""
    comments: Comments | None = None
    """Default ``comments``."""
    external_requester: ExternalRequester | None = None
    """Default ``externalRequester`` (notification e-mail(s))."""
    custom_fields: CustomFields | None = None
    """Default custom fields; a certificate's own fields with the same name win."""


class ClientDefaults(ApiModel):
    """Enrollment defaults for client (S/MIME) certificates (``sectigo_client_cert_*``)."""

    cert_type: ProfileId | None = None
    """Default client profile id (Vault ``sectigo_client_cert_type``)."""
    term: Term | None = None
    """Default validity in days (Vault ``sectigo_client_cert_validity``)."""
    format: CollectFormat | None = None
    """Collect format; unset: the operator's choice."""
    comments: Comments | None = None
    """Default ``comments``."""
    custom_fields: CustomFields | None = None
    """Default custom fields."""


class CollectSettings(ApiModel):
    """How long and how often to try collecting an ordered certificate."""

    max_timeout: int = Field(default=600, ge=1, le=86400 * 30)
    """Seconds one collect attempt may take before the state is saved as
    ``TimedOutStateSaved`` (Vault/Pycert ``sectigo_max_timeout``)."""
    loop_period: int = Field(default=30, ge=1, le=86400)
    """Seconds between collect polls (Pycert ``sectigo_loop_period``)."""


class RenewalPolicy(ApiModel):
    """When the operator renews a certificate by itself (Pycert's validity check)."""

    auto_renew: bool = True
    """Renew automatically inside the expiry window (``sectigo_auto_renew``)."""
    expiry_window_days: int = Field(default=30, ge=1, le=3650)
    """Days before ``notAfter`` at which renewal starts (``sectigo_expiry_window``)."""


class RenewalOverride(ApiModel):
    """Per-certificate renewal settings; unset fields come from the SectigoConfig."""

    auto_renew: bool | None = None
    """Renew automatically inside the expiry window."""
    expiry_window_days: int | None = Field(default=None, ge=1, le=3650)
    """Days before ``notAfter`` at which renewal starts."""


class PrivateKeyDefaults(ApiModel):
    """Defaults for keys the operator generates."""

    model_config = ConfigDict(json_schema_extra=rules(KEY_SIZE_RULE))

    algorithm: KeyAlgorithm = KeyAlgorithm.RSA
    """``RSA`` or ``ECDSA``."""
    size: int | None = None
    """RSA: 2048, 3072 or 4096; ECDSA: 256, 384 or 521 (P-256 ...). Unset: 2048 / 256."""


_ONE_AUTH = Cel(
    "has(self.credentialsSecretRef) != has(self.clientCertificateSecretRef)",
    message=(
        "exactly one of spec.credentialsSecretRef (login and password) and"
        " spec.clientCertificateSecretRef (client certificate) must be set"
    ),
)


class ConfigSpec(ApiModel):
    """How to reach one SCM account, and defaults for the certificates that use it."""

    model_config = ConfigDict(json_schema_extra=rules(_ONE_AUTH))

    url: Url
    """SCM base URL, e.g. ``https://cert-manager.com/`` (Vault ``sectigo_cm_base_url``).
    https only; http is accepted for loopback hosts (the sandbox SCM)."""
    customer_uri: str = Field(min_length=1, max_length=256, pattern=r"^[^\s/]+$")
    """The customer URI (``customerUri`` header; Vault ``sectigo_cm_uri``)."""
    org_id: int = Field(ge=1)
    """Organization or department id that owns the certificates (Vault ``sectigo_cm_org_id``)."""
    credentials_secret_ref: CredentialsSecretRef | None = None
    """Password authentication: a Secret with login and password. Exactly one of this and
    ``clientCertificateSecretRef``."""
    client_certificate_secret_ref: ClientCertificateSecretRef | None = None
    """Client-certificate authentication: a ``kubernetes.io/tls`` Secret plus the login."""
    ssl: SslDefaults = Field(default_factory=SslDefaults, json_schema_extra=OBJECT_DEFAULT)
    """Defaults for SSL enrollments."""
    client: ClientDefaults = Field(default_factory=ClientDefaults, json_schema_extra=OBJECT_DEFAULT)
    """Defaults for client (S/MIME) enrollments."""
    collect: CollectSettings = Field(
        default_factory=CollectSettings, json_schema_extra=OBJECT_DEFAULT
    )
    """Collect timing."""
    renewal: RenewalPolicy = Field(default_factory=RenewalPolicy, json_schema_extra=OBJECT_DEFAULT)
    """Renewal policy; a certificate's ``spec.renewal`` overrides it field by field."""
    private_key: PrivateKeyDefaults = Field(
        default_factory=PrivateKeyDefaults, json_schema_extra=OBJECT_DEFAULT
    )
    """Defaults for keys the operator generates."""
    max_concurrent_requests: int = Field(default=8, ge=1, le=256)
    """At most this many SCM requests in flight for this config."""


class ConfigStatus(ApiModel):
    """Result of the credentials and connectivity check. Written by the operator."""

    observed_generation: int | None = Field(default=None, ge=0)
    """The generation the status was computed for."""
    conditions: Conditions | None = None
    """``Ready`` (credentials accepted by SCM) and ``Stalled`` (e.g. bad credentials)."""
    last_checked: Timestamp | None = None
    """When the credentials were last checked against SCM."""
    credentials_version: str | None = Field(default=None, max_length=64)
    """``resourceVersion`` of the credentials Secret SCM last accepted: a restarted operator
    trusts that check (no SCM call) while the Secret is unchanged and ``lastChecked`` is recent."""


class SectigoConfig(Resource):
    """Connection to one SCM account (URL, customer URI, org, credentials) and defaults."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="SectigoConfig",
        plural="sectigoconfigs",
        singular="sectigoconfig",
        short_names=("scfg",),
        printer_columns=(
            READY_COLUMN,
            PrinterColumn("URL", ".spec.url", description="SCM base URL"),
            PrinterColumn("Customer", ".spec.customerUri", description="SCM customer URI"),
            PrinterColumn("Org", ".spec.orgId", type="integer", description="SCM org id"),
            PrinterColumn(
                "Checked", ".status.lastChecked", type="date", description="last check", priority=1
            ),
            AGE_COLUMN,
        ),
        selectable_fields=("spec.customerUri",),
    )

    kind: str = "SectigoConfig"
    spec: ConfigSpec
    status: ConfigStatus | None = None
