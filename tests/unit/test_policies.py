"""Table tests for ``sectigo_operator.policies``: the pure decisions of issuance.

One table per function; every row has a readable id. Specs and configs are built from their wire
(camelCase) form, as the operator receives them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sectigo_operator import pki, policies
from sectigo_operator.models import CertificateSpec, CertificateType, ConfigSpec
from sectigo_operator.policies import EnrollPlan, ProfileView, SpecError

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def config(**overrides: Any) -> ConfigSpec:
    wire: dict[str, Any] = {
        "url": "http://127.0.0.1:8843",
        "customerUri": "sandbox",
        "orgId": 1234,
        "credentialsSecretRef": {"name": "scm-credentials"},
        "ssl": {"certType": 51, "term": 730},
        "client": {"certType": 61},
        **overrides,
    }
    return ConfigSpec.model_validate(wire)


def spec(**fields: Any) -> CertificateSpec:
    wire: dict[str, Any] = {
        "configRef": {"name": "scm"},
        "certificateType": "ssl",
        "secretName": "web-tls",
        **fields,
    }
    return CertificateSpec.model_validate(wire)


def client(**fields: Any) -> CertificateSpec:
    base = {"certificateType": "client", "email": "alice@example.com", "firstName": "Alice"}
    return spec(**{**base, "lastName": "Liddell", **fields})


def plan(**changes: Any) -> EnrollPlan:
    base = EnrollPlan(
        kind=CertificateType.SSL,
        cert_type=51,
        term=365,
        csr_request=pki.CsrRequest(common_name="web.example.com"),
        key_spec=pki.KeySpec("RSA", 2048),
    )
    return EnrollPlan(**{**base.__dict__, **changes})


# --------------------------------------------------------------------------------------------
# plan_enrollment

PLANS: list[tuple[str, CertificateSpec, ConfigSpec, int | None, dict[str, Any]]] = [
    (
        "ssl: profile, term and key from the config",
        spec(commonName="web.example.com"),
        config(privateKey={"algorithm": "ECDSA"}),
        None,
        {"cert_type": 51, "term": 730, "key_spec": pki.KeySpec("ECDSA", 256)},
    ),
    (
        "ssl: the spec overrides the config",
        spec(commonName="web.example.com", certType=54, term=365, privateKey={"size": 3072}),
        config(),
        None,
        {"cert_type": 54, "term": 365, "key_spec": pki.KeySpec("RSA", 3072)},
    ),
    (
        "no size anywhere -> RSA 2048",
        spec(commonName="web.example.com"),
        config(),
        None,
        {"key_spec": pki.KeySpec("RSA", 2048)},
    ),
    (
        "no term anywhere -> 365",
        spec(commonName="web.example.com"),
        config(ssl={"certType": 51}),
        None,
        {"term": 365},
    ),
    (
        "profileRef id when no certType",
        spec(commonName="web.example.com"),
        config(),
        77,
        {"cert_type": 77},
    ),
    (
        "certType beats profileRef",
        spec(commonName="web.example.com", certType=52),
        config(),
        77,
        {"cert_type": 52},
    ),
    (
        "dnsNames only: no CN, the first name is the identity",
        spec(dnsNames=["a.example.com", "b.example.com"]),
        config(),
        None,
        {"sans": ("a.example.com", "b.example.com"), "identity": "a.example.com"},
    ),
    (
        "the CN is not repeated among the SANs",
        spec(commonName="a.example.com", dnsNames=["a.example.com", "b.example.com"]),
        config(),
        None,
        {"sans": ("b.example.com",), "identity": "a.example.com"},
    ),
    (
        "IP addresses become SANs",
        spec(commonName="a.example.com", ipAddresses=["127.0.0.1"]),
        config(),
        None,
        {"sans": ("127.0.0.1",)},
    ),
    (
        "a user CSR needs no CN in the spec",
        spec(csr="-----BEGIN CERTIFICATE REQUEST-----" + "A" * 64),
        config(),
        None,
        {"identity": ""},
    ),
    (
        "comments and custom fields default from the config",
        spec(commonName="web.example.com"),
        config(
            ssl={
                "certType": 51,
                "comments": "from config",
                "customFields": [{"name": "Ticket", "value": "T-1"}],
            }
        ),
        None,
        {"comments": "from config", "custom_fields": (("Ticket", "T-1"),)},
    ),
    (
        "client: names, e-mail first, config profile",
        client(middleName="P.", emailAddresses=["other@example.com", "alice@example.com"]),
        config(),
        None,
        {
            "kind": CertificateType.CLIENT,
            "cert_type": 61,
            "email": "alice@example.com",
            "identity": "alice@example.com",
            "first_name": "Alice",
            "middle_name": "P.",
            "last_name": "Liddell",
            "csr_common_name": "Alice P. Liddell",
            "csr_emails": ("alice@example.com", "other@example.com"),
        },
    ),
    (
        "client: an explicit CN wins over the names",
        client(commonName="Alice (ops)"),
        config(),
        None,
        {"csr_common_name": "Alice (ops)"},
    ),
]


@pytest.mark.parametrize(
    ("cert", "cfg", "profile_id", "expected"),
    [p[1:] for p in PLANS],
    ids=[p[0] for p in PLANS],
)
def test_plan_enrollment(
    cert: CertificateSpec, cfg: ConfigSpec, profile_id: int | None, expected: dict[str, Any]
) -> None:
    result = policies.plan_enrollment(cert, cfg, profile_id)
    for name, value in expected.items():
        if name == "csr_common_name":
            assert result.csr_request.common_name == value
        elif name == "csr_emails":
            assert result.csr_request.email_addresses == value
        else:
            assert getattr(result, name) == value, name


PLAN_ERRORS = [
    ("ssl without CN or dnsNames", spec(), config(), "spec.commonName"),
    ("no profile anywhere", spec(commonName="a.example.com"), config(ssl={}), "spec.certType"),
    (
        "client without a client profile",
        client(),
        config(client={}),
        "spec.certType",
    ),
    ("client without e-mail", client(email=None), config(), "spec.email"),
    ("client without firstName", client(firstName=None), config(), "spec.firstName"),
    ("client without lastName", client(lastName=None), config(), "spec.lastName"),
    (
        "client names too long together for a commonName",
        client(firstName="A" * 40, lastName="B" * 30),
        config(),
        "spec.firstName",
    ),
    (
        "client names within 64 characters but over 64 bytes",
        client(firstName="\u00e9" * 30, lastName="\u00e8" * 10),
        config(),
        "spec.firstName",
    ),
]


@pytest.mark.parametrize(
    ("cert", "cfg", "field"), [e[1:] for e in PLAN_ERRORS], ids=[e[0] for e in PLAN_ERRORS]
)
def test_plan_enrollment_errors_name_the_field(
    cert: CertificateSpec, cfg: ConfigSpec, field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        policies.plan_enrollment(cert, cfg)
    assert caught.value.field == field
    assert str(caught.value).startswith(field + ": ")


# --------------------------------------------------------------------------------------------
# profile_problems

OV = ProfileView(51, "OV SSL", (365, 730), {"RSA": ["2048", "3072"], "EC": ["P-256"]})
RSA_ONLY = ProfileView(54, "RSA only", (365,), {"RSA": ["2048"]})
OPEN = ProfileView(60, "anything", (), {})
RSA2048, EC256, EC384 = (
    pki.KeySpec("RSA", 2048),
    pki.KeySpec("ECDSA", 256),
    pki.KeySpec("ECDSA", 384),
)

PROFILE_CASES: list[tuple[str, EnrollPlan, pki.KeySpec, ProfileView | None, list[str]]] = [
    ("fits", plan(), RSA2048, OV, []),
    ("EC P-256 fits", plan(), EC256, OV, []),
    ("unknown profile", plan(cert_type=99), RSA2048, None, ["spec.certType", "99"]),
    ("term not offered", plan(term=999), RSA2048, OV, ["spec.term", "999", "365, 730"]),
    ("ECDSA on an RSA-only profile", plan(), EC256, RSA_ONLY, ["spec.privateKey", "ECDSA 256"]),
    ("curve not offered", plan(), EC384, OV, ["spec.privateKey", "ECDSA 384"]),
    (
        "term and key both wrong",
        plan(term=730),
        EC256,
        RSA_ONLY,
        ["spec.term", "spec.privateKey"],
    ),
    ("a profile without limits takes anything", plan(term=1), EC384, OPEN, []),
    (
        "too many SANs",
        plan(sans=tuple(f"n{i}.example.com" for i in range(101))),
        RSA2048,
        OV,
        ["spec.dnsNames", "101"],
    ),
]


@pytest.mark.parametrize(
    ("request_plan", "key", "profile", "mentions"),
    [c[1:] for c in PROFILE_CASES],
    ids=[c[0] for c in PROFILE_CASES],
)
def test_profile_problems(
    request_plan: EnrollPlan, key: pki.KeySpec, profile: ProfileView | None, mentions: list[str]
) -> None:
    problems = policies.profile_problems(request_plan, key, profile)
    text = "; ".join(problems)
    assert bool(problems) == bool(mentions), text
    for word in mentions:
        assert word in text
    if "spec.term" in mentions and "spec.privateKey" in mentions:
        assert len(problems) == 2


# --------------------------------------------------------------------------------------------
# poll_delay, timed_out, backoff

POLL_CASES = [
    # id, loop_period, elapsed, max_timeout, awaiting_approval, cap, expected
    ("within maxTimeout: every loopPeriod", 30, 10, 600, False, 300, 30),
    ("exactly at maxTimeout: not yet slower", 30, 600, 600, False, 300, 30),
    ("just past maxTimeout: the ceiling (12 an hour)", 30, 601, 600, False, 300, 300),
    ("long overdue: the ceiling", 30, 100000, 600, False, 300, 300),
    ("awaiting approval: 4x slower", 30, 10, 600, True, 300, 120),
    ("awaiting approval and overdue: the ceiling", 1, 9, 2, True, 300, 300),
    ("never below one second", 1, 0, 600, False, 0.5, 1),
    ("maxTimeout 0: no doubling", 5, 100, 0, False, 300, 5),
]


@pytest.mark.parametrize(
    ("loop", "elapsed", "max_timeout", "approval", "cap", "expected"),
    [c[1:] for c in POLL_CASES],
    ids=[c[0] for c in POLL_CASES],
)
def test_poll_delay(
    loop: float, elapsed: float, max_timeout: float, approval: bool, cap: float, expected: float
) -> None:
    got = policies.poll_delay(loop, elapsed, max_timeout, awaiting_approval=approval, cap=cap)
    assert got == expected


TIMED_OUT_CASES = [
    ("not started", None, 0, 60, False),
    ("within", NOW - timedelta(seconds=30), 0, 60, False),
    ("exactly maxTimeout", NOW - timedelta(seconds=60), 0, 60, False),
    ("past maxTimeout", NOW - timedelta(seconds=61), 0, 60, True),
    ("started in the future (clock skew)", NOW + timedelta(seconds=5), 0, 60, False),
]


@pytest.mark.parametrize(
    ("started", "_", "max_timeout", "expected"),
    [c[1:] for c in TIMED_OUT_CASES],
    ids=[c[0] for c in TIMED_OUT_CASES],
)
def test_timed_out(started: datetime | None, _: int, max_timeout: float, expected: bool) -> None:
    assert policies.timed_out(started, NOW, max_timeout) is expected


BACKOFF_CASES = [
    ("first retry: base", 1, 5.0, 300.0, 5.0),
    ("second: doubled", 2, 5.0, 300.0, 10.0),
    ("fourth: x8", 4, 5.0, 300.0, 40.0),
    ("capped", 10, 5.0, 300.0, 300.0),
    ("attempt 0 counts as the first", 0, 2.0, 300.0, 2.0),
    ("huge attempt: no overflow, capped", 10**6, 1.0, 30.0, 30.0),
]


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "expected"),
    [c[1:] for c in BACKOFF_CASES],
    ids=[c[0] for c in BACKOFF_CASES],
)
def test_backoff(attempt: int, base: float, cap: float, expected: float) -> None:
    assert policies.backoff(attempt, base=base, cap=cap) == expected


# --------------------------------------------------------------------------------------------
# renewal_time

RENEWAL_CASES = [
    ("one year, 30-day window", 365, 30, timedelta(days=30)),
    ("90 days, 45-day window: exactly twice keeps the window", 90, 45, timedelta(days=45)),
    ("89 days, 45-day window: a third of its life", 89, 45, timedelta(days=89) / 3),
    ("60 days, 30-day window: not shorter than 2x", 60, 30, timedelta(days=30)),
    ("one day, 30-day window: last third of its life", 1, 30, timedelta(hours=8)),
]


@pytest.mark.parametrize(
    ("lifetime_days", "window_days", "before_expiry"),
    [c[1:] for c in RENEWAL_CASES],
    ids=[c[0] for c in RENEWAL_CASES],
)
def test_renewal_time(lifetime_days: int, window_days: int, before_expiry: timedelta) -> None:
    not_after = NOW + timedelta(days=lifetime_days)
    assert policies.renewal_time(NOW, not_after, window_days) == not_after - before_expiry


# --------------------------------------------------------------------------------------------
# comments_with_marker, marker_for

MARKER = policies.marker_for("0b7e-uid", 2)

COMMENT_CASES = [
    ("no comments: the marker alone", None, 1024, MARKER),
    ("empty comments: the marker alone", "", 1024, MARKER),
    ("comments then the marker", "ticket 42", 1024, f"ticket 42 [{MARKER}]"),
    (
        "too long: cut so the marker fits",
        "x" * 2000,
        1024,
        "x" * (1021 - len(MARKER)) + f" [{MARKER}]",
    ),
    ("limit smaller than the marker: marker kept", "abc", 5, f" [{MARKER}]"),
]


@pytest.mark.parametrize(
    ("comments", "limit", "expected"),
    [c[1:] for c in COMMENT_CASES],
    ids=[c[0] for c in COMMENT_CASES],
)
def test_comments_with_marker(comments: str | None, limit: int, expected: str) -> None:
    got = policies.comments_with_marker(comments, MARKER, limit)
    assert got == expected
    assert MARKER in got
    if comments and len(f"{comments} [{MARKER}]") > limit and limit > len(MARKER) + 3:
        assert len(got) == limit


def test_marker_for_is_unique_per_uid_and_attempt() -> None:
    assert MARKER == "k8s:0b7e-uid:2"
    markers = {policies.marker_for(uid, n) for uid in ("a", "b") for n in range(3)}
    assert len(markers) == 6


# --------------------------------------------------------------------------------------------
# with_csr_names


def csr_info(cn: str | None, dns: tuple[str, ...] = (), ips: tuple[str, ...] = ()) -> pki.CsrInfo:
    return pki.CsrInfo(
        common_name=cn,
        dns_names=dns,
        ip_addresses=ips,
        email_addresses=(),
        uris=(),
        key_spec=pki.KeySpec("ECDSA", 384),
    )


CSR_CASES = [
    (
        "the CSR's CN and SANs replace the spec's",
        csr_info("csr.example.com", ("csr.example.com", "alt.example.com")),
        "csr.example.com",
        ("alt.example.com",),
    ),
    ("a CSR without CN", csr_info(None, ("a.example.com",)), "", ("a.example.com",)),
    (
        "IP SANs from the CSR",
        csr_info("ip.example.com", (), ("127.0.0.1",)),
        "ip.example.com",
        ("127.0.0.1",),
    ),
    ("a CSR with only a CN", csr_info("only.example.com"), "only.example.com", ()),
]


@pytest.mark.parametrize(
    ("info", "cn", "sans"), [c[1:] for c in CSR_CASES], ids=[c[0] for c in CSR_CASES]
)
def test_with_csr_names(info: pki.CsrInfo, cn: str, sans: tuple[str, ...]) -> None:
    original = plan(
        csr_request=pki.CsrRequest(common_name="spec.example.com", dns_names=("spec.example.com",)),
        sans=("other.example.com",),
        term=730,
    )
    got = policies.with_csr_names(original, info)
    assert got.csr_request.common_name == cn
    assert got.csr_request.dns_names == info.dns_names
    assert got.sans == sans
    assert got.key_spec == info.key_spec
    assert (got.term, got.cert_type, got.kind) == (730, 51, CertificateType.SSL)
    assert got.identity == (cn or (sans[0] if sans else ""))


def _info(
    cn: str | None = "a.example.com",
    dns: tuple[str, ...] = ("a.example.com",),
    emails: tuple[str, ...] = (),
) -> pki.CertInfo:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return pki.CertInfo(
        serial_number="01",
        fingerprint_sha256="00",
        not_before=now,
        not_after=now + timedelta(days=365),
        common_name=cn,
        dns_names=dns,
        ip_addresses=(),
        email_addresses=emails,
        uris=(),
        issuer_common_name="CA",
        key_spec=None,
    )


@pytest.mark.parametrize(
    ("fields", "info", "expected_fields"),
    [
        pytest.param({"commonName": "a.example.com"}, _info(), [], id="unchanged"),
        pytest.param(
            {"commonName": "b.example.com"}, _info(), ["spec.commonName"], id="cn changed"
        ),
        pytest.param(
            {"commonName": "a.example.com", "dnsNames": ["a.example.com", "new.example.com"]},
            _info(),
            ["spec.dnsNames"],
            id="dns name added",
        ),
        pytest.param(
            {"commonName": "a.example.com", "dnsNames": ["a.example.com"]},
            _info(dns=("a.example.com", "old.example.com")),
            [],
            id="dns name removed is fine",
        ),
    ],
)
def test_spec_drift(fields: dict[str, Any], info: pki.CertInfo, expected_fields: list[str]) -> None:
    problems = policies.spec_drift(info, spec(**fields))
    assert [p.split(" ")[0] for p in problems] == expected_fields


def test_spec_drift_client_email() -> None:
    alice = client(email="alice@example.com")
    assert policies.spec_drift(_info(emails=("Alice@example.com",)), alice) == []
    assert policies.spec_drift(_info(emails=("bob@example.com",)), alice)[0].startswith(
        "spec.email"
    )


def test_the_subject_email_address_goes_into_the_csr_subject() -> None:
    """``spec.subject.emailAddress`` (the Vault plugin's ``sectigo_csr_email_address``) is the
    CSR subject's emailAddress; the SAN e-mail addresses stay SANs."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cert = spec(
        commonName="web.example.com",
        subject={"emailAddress": "pki-team@example.com"},
        emailAddresses=["web@example.com"],
    )
    plan = policies.plan_enrollment(cert, config(), None)
    key = pki.generate_private_key(pki.KeySpec("ECDSA", 256))
    csr = x509.load_pem_x509_csr(pki.build_csr(key, plan.csr_request).encode())
    emails = csr.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    assert [a.value for a in emails] == ["pki-team@example.com"]
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.RFC822Name) == ["web@example.com"]
