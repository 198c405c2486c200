"""Pure decisions about certificates: what to order, whether it fits, when to look again.

No I/O and no clock: callers pass ``now``. The certificates package gathers the inputs, calls
these functions and performs the one side effect they ask for. Every function here is
covered by table tests in ``tests/unit/test_policies.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from . import pki
from .models import CertificateSpec, CertificateType
from .models.certificate import KeyEncoding
from .models.config import ConfigSpec

DEFAULT_TERM = 365
DEFAULT_RSA_SIZE = 2048
DEFAULT_ECDSA_SIZE = 256
CHAIN_FORMAT = "x509"
"""What the operator collects for the Secret: the whole chain as PEM (any order is fine)."""

# Condition reasons (CamelCase, reused in conditions, Events and metrics).
REASON_ISSUED = "Issued"
REASON_CONFIG_NOT_READY = "ConfigNotReady"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_PROFILE_MISMATCH = "ProfileMismatch"
REASON_KEY_MISMATCH = "KeyMismatch"
REASON_KEY_LOST = "KeyLost"
REASON_SECRET_NOT_MANAGED = "SecretNotManaged"  # noqa: S105 - a reason, not a secret
REASON_SECRET_MISSING = "SecretMissing"  # noqa: S105 - a reason, not a secret
REASON_ENROLLING = "Enrolling"
REASON_PENDING = "Pending"
REASON_AWAITING_APPROVAL = "AwaitingApproval"
REASON_TIMED_OUT_STATE_SAVED = "TimedOutStateSaved"
REASON_SCM_ERROR = "ScmError"
REASON_SCM_UNAVAILABLE = "ScmUnavailable"
REASON_ORDER_FAILED = "OrderFailed"
REASON_CREDENTIALS_MISSING = "CredentialsMissing"
REASON_AUTHENTICATION_FAILED = "AuthenticationFailed"
REASON_CONNECTED = "Connected"
REASON_PROFILE_NOT_FOUND = "ProfileNotFound"
REASON_PROFILE_NOT_READY = "ProfileNotReady"
REASON_FETCHED = "Fetched"


class SpecError(ValueError):
    """The spec cannot be turned into an order; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class EnrollPlan:
    """Everything an enrollment needs, resolved from the certificate spec and its config."""

    kind: CertificateType
    cert_type: int
    term: int
    csr_request: pki.CsrRequest
    key_spec: pki.KeySpec
    comments: str | None = None
    external_requester: str | None = None
    custom_fields: tuple[tuple[str, str], ...] = ()
    server_type: int | None = None
    number_servers: int | None = None
    dcv_mode: str | None = None
    dcv_email: str | None = None
    email: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    secondary_emails: tuple[str, ...] = ()
    eppn: str | None = None
    upn: str | None = None
    sans: tuple[str, ...] = field(default_factory=tuple)

    @property
    def identity(self) -> str:
        """What SCM lists the order under: the CN for SSL, the e-mail for client certificates."""
        if self.kind == CertificateType.CLIENT:
            return self.email or ""
        return self.csr_request.common_name or (self.sans[0] if self.sans else "")


def with_csr_names(plan: EnrollPlan, info: pki.CsrInfo) -> EnrollPlan:
    """The plan for a user-supplied CSR: its names are what SCM will certify."""
    request = replace(
        plan.csr_request,
        common_name=info.common_name or "",
        dns_names=info.dns_names,
        ip_addresses=info.ip_addresses,
    )
    sans = tuple(n for n in (*info.dns_names, *info.ip_addresses) if n != info.common_name)
    return replace(plan, csr_request=request, sans=sans, key_spec=info.key_spec)


def key_encoding(spec: CertificateSpec) -> pki.KeyEncoding:
    """The PEM encoding of ``tls.key``: ``spec.privateKey.encoding``, PKCS1 by default."""
    wanted = spec.private_key.encoding if spec.private_key else None
    return "PKCS8" if wanted == KeyEncoding.PKCS8 else "PKCS1"


def key_spec(spec: CertificateSpec, config: ConfigSpec) -> pki.KeySpec:
    """The key to generate: the certificate's choice, else the config's default."""
    pk = spec.private_key
    algorithm = str((pk.algorithm if pk and pk.algorithm else None) or config.private_key.algorithm)
    size = (pk.size if pk and pk.size else None) or config.private_key.size
    if size is None:
        size = DEFAULT_RSA_SIZE if algorithm == "RSA" else DEFAULT_ECDSA_SIZE
    try:
        return pki.KeySpec(algorithm, size)  # type: ignore[arg-type]
    except pki.InvalidKey as exc:
        raise SpecError("spec.privateKey", str(exc)) from None


def plan_enrollment(
    spec: CertificateSpec, config: ConfigSpec, profile_id: int | None = None
) -> EnrollPlan:
    """Resolve the order from the spec and the config's defaults; raise :class:`SpecError`.

    ``profile_id`` is the id of the SectigoProfile named by ``spec.profileRef``, if any.
    """
    is_client = spec.certificate_type == CertificateType.CLIENT
    defaults = config.client if is_client else config.ssl
    cert_type = spec.cert_type or profile_id or defaults.cert_type
    if cert_type is None:
        raise SpecError(
            "spec.certType",
            "no profile: set spec.certType, spec.profileRef, or the config's "
            f"{'client' if is_client else 'ssl'}.certType default",
        )
    term = spec.term or defaults.term or DEFAULT_TERM
    subject = spec.subject
    dns = tuple(spec.dns_names or ())
    ips = tuple(str(i) for i in spec.ip_addresses or ())
    uris = tuple(str(u) for u in spec.uris or ())
    emails = tuple(str(e) for e in spec.email_addresses or ())
    if is_client:
        if not spec.email:
            raise SpecError("spec.email", "a client certificate needs an e-mail address")
        emails = (str(spec.email), *[e for e in emails if e != spec.email])
    common_name = spec.common_name or ""
    if is_client and not common_name:
        names = [spec.first_name, spec.middle_name, spec.last_name]
        common_name = " ".join(n for n in names if n)
        if len(common_name) > 64 or len(common_name.encode()) > 64:
            raise SpecError(
                "spec.firstName",
                "firstName, middleName and lastName joined by spaces become the commonName, "
                "which may hold at most 64 characters and 64 bytes in UTF-8; set a shorter "
                "spec.commonName or shorter names",
            )
    brings_csr = spec.csr is not None or spec.csr_secret_ref is not None
    if not is_client and not common_name and not dns and not brings_csr:
        raise SpecError("spec.commonName", "an SSL certificate needs commonName or dnsNames")

    def values(name: str) -> tuple[str, ...]:
        got = getattr(subject, name, None) if subject else None
        if got is None:
            return ()
        return (got,) if isinstance(got, str) else tuple(got)

    subject_email = subject.email_address if subject is not None else None
    request = pki.CsrRequest(
        subject_email=str(subject_email or ""),
        common_name=common_name,
        dns_names=dns,
        ip_addresses=ips,
        uris=uris,
        email_addresses=emails,
        organizations=values("organizations"),
        organizational_units=values("organizational_units"),
        countries=values("countries"),
        provinces=values("provinces"),
        localities=values("localities"),
        street_addresses=values("street_addresses"),
        postal_codes=values("postal_codes"),
        serial_number=(subject.serial_number or "") if subject else "",
    )
    custom = spec.custom_fields if spec.custom_fields is not None else defaults.custom_fields
    sans = tuple(n for n in (*dns, *ips) if n != common_name)
    common = {
        "kind": spec.certificate_type,
        "cert_type": cert_type,
        "term": term,
        "csr_request": request,
        "key_spec": key_spec(spec, config),
        "comments": spec.comments or defaults.comments,
        "custom_fields": tuple((f.name, f.value) for f in custom or ()),
        "sans": sans,
    }
    if is_client:
        if not spec.first_name or not spec.last_name:
            field_name = "spec.firstName" if not spec.first_name else "spec.lastName"
            raise SpecError(field_name, "a client certificate needs firstName and lastName")
        return EnrollPlan(
            **common,  # type: ignore[arg-type]
            email=str(spec.email),
            first_name=spec.first_name,
            middle_name=spec.middle_name,
            last_name=spec.last_name,
            phone=spec.phone,
            secondary_emails=tuple(str(e) for e in spec.secondary_emails or ()),
            eppn=spec.eppn,
            upn=spec.upn,
        )
    ssl = config.ssl
    return EnrollPlan(
        **common,  # type: ignore[arg-type]
        external_requester=spec.external_requester or ssl.external_requester,
        server_type=spec.server_type if spec.server_type is not None else ssl.server_type,
        number_servers=(
            spec.number_servers if spec.number_servers is not None else ssl.number_servers
        ),
        dcv_mode=str(spec.dcv_mode) if spec.dcv_mode else None,
        dcv_email=str(spec.dcv_email) if spec.dcv_email else None,
    )


@dataclass(frozen=True)
class ProfileView:
    """The parts of an SCM profile that constrain a request."""

    id: int
    name: str
    terms: tuple[int, ...]
    key_types: Mapping[str, Sequence[str]]


def profile_problems(
    plan: EnrollPlan, key: pki.KeySpec, profile: ProfileView | None, *, san_limit: int = 100
) -> list[str]:
    """What in the request the profile will not accept (empty when it fits), naming fields."""
    if profile is None:
        return [f"spec.certType: profile {plan.cert_type} does not exist at SCM"]
    problems = []
    if profile.terms and plan.term not in profile.terms:
        allowed = ", ".join(map(str, profile.terms))
        problems.append(
            f"spec.term: {plan.term} days is not allowed by profile {profile.name!r} "
            f"(allowed: {allowed})"
        )
    if profile.key_types and not pki.key_type_allowed(profile.key_types, key):
        allowed = "; ".join(f"{k} {'/'.join(v)}" for k, v in profile.key_types.items())
        problems.append(
            f"spec.privateKey: {key} is not allowed by profile {profile.name!r} "
            f"(allowed: {allowed})"
        )
    if len(plan.sans) > san_limit:
        problems.append(f"spec.dnsNames: {len(plan.sans)} SANs exceed the limit of {san_limit}")
    return problems


def marker_for(uid: str, attempt: int) -> str:
    """The enrollment marker put into SCM ``comments`` to find an order whose answer was lost."""
    return f"k8s:{uid}:{attempt}"


def comments_with_marker(comments: str | None, marker: str, limit: int = 1024) -> str:
    """The user's comments with the marker appended, cut so that the marker always fits."""
    suffix = f" [{marker}]"
    if not comments:
        return marker
    return comments[: max(0, limit - len(suffix))] + suffix


def poll_delay(
    loop_period: float, elapsed: float, max_timeout: float, *, awaiting_approval: bool, cap: float
) -> float:
    """Seconds until the next collect attempt.

    Within ``max_timeout`` SCM is asked every ``loop_period``, as the Vault plugin does. After it
    (TimedOutStateSaved) SCM is asked every ``cap`` seconds (``max_poll_delay``, 300 s: at most
    12 times an hour), however long the order stays pending. An order waiting for an
    administrator's approval is polled at least 4x slower.
    """
    delay = float(loop_period)
    if elapsed > max_timeout > 0:
        delay = cap
    if awaiting_approval:
        delay = max(delay, loop_period * 4)
    return max(1.0, min(delay, cap))


def timed_out(started: datetime | None, now: datetime, max_timeout: float) -> bool:
    """Has collecting gone on longer than ``max_timeout`` (Vault's TimedOutStateSaved)?"""
    return started is not None and (now - started).total_seconds() > max_timeout


def backoff(attempt: int, *, base: float = 5.0, cap: float = 300.0) -> float:
    """Exponential backoff for retryable failures: base, 2*base, 4*base, ... up to cap."""
    return float(min(cap, base * 2 ** max(0, min(attempt, 16) - 1)))


def renewal_time(not_before: datetime, not_after: datetime, window_days: int) -> datetime:
    """When to renew: ``window_days`` before expiry (the Vault plugin's expiry window).

    For a certificate shorter than twice the window, renew after two thirds of its life instead,
    so a short test certificate is not renewed the moment it is issued.
    """
    lifetime = not_after - not_before
    window = timedelta(days=window_days)
    if lifetime < 2 * window:
        window = lifetime / 3
    return not_after - window


def certificate_matches_request(info: pki.CertInfo, plan: EnrollPlan) -> list[str]:
    """Differences between an issued certificate and what was asked for (empty when it fits)."""
    problems = []
    want_cn = plan.csr_request.common_name
    if plan.kind == CertificateType.SSL:
        if want_cn and info.common_name != want_cn:
            problems.append(f"common name {info.common_name!r} != {want_cn!r}")
        missing = set(plan.csr_request.dns_names) - set(info.dns_names)
        if missing:
            problems.append(f"missing DNS names {sorted(missing)}")
    elif plan.email and plan.email.lower() not in {e.lower() for e in info.email_addresses}:
        problems.append(f"e-mail {plan.email!r} not in the certificate")
    return problems


def spec_drift(info: pki.CertInfo, spec: CertificateSpec) -> list[str]:
    """What the issued certificate lacks of the current spec (names only; empty when it fits).

    A user CSR decides the names itself, so certificates with ``csr``/``csrSecretRef`` have none.
    """
    if spec.csr is not None or spec.csr_secret_ref is not None:
        return []
    problems = []
    if spec.certificate_type == CertificateType.CLIENT:
        if spec.email and str(spec.email).lower() not in {e.lower() for e in info.email_addresses}:
            problems.append(f"spec.email {spec.email!s} is not in the issued certificate")
        return problems
    if spec.common_name and spec.common_name != info.common_name:
        problems.append(
            f"spec.commonName {spec.common_name!r} differs from the issued {info.common_name!r}"
        )
    missing = sorted(set(spec.dns_names or ()) - set(info.dns_names))
    if missing:
        problems.append(f"spec.dnsNames {missing} are not in the issued certificate")
    return problems
