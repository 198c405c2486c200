"""Every SSL method against the sandbox SCM over HTTP."""

from __future__ import annotations

import pytest
from cryptography import x509

from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import (
    CertificateFormat,
    CustomFieldValue,
    Issued,
    Pending,
    RevocationReason,
    ScmAlreadyRevokedError,
    ScmClient,
    ScmConflictError,
    ScmInvalidRequestError,
    ScmNotFoundError,
    ScmOrderFailedError,
    SslEnrollRequest,
    SslFilter,
    TimedOutStateSaved,
)

from .conftest import make_csr

AUTO, APPROVAL, TICKET = 51, 52, 53


def enroll_request(
    sandbox: SandboxHandle, cn: str, *, profile: int = AUTO, **kw: object
) -> SslEnrollRequest:
    return SslEnrollRequest.model_validate(
        {
            "org_id": sandbox.org_id,
            "csr": make_csr(cn, (cn,)),
            "cert_type": profile,
            "term": 365,
            "subj_alt_names": [cn],
            **kw,
        }
    )


async def issued_order(scm: ScmClient, sandbox: SandboxHandle, cn: str) -> int:
    order = await scm.ssl.enroll(enroll_request(sandbox, cn))
    result = await scm.ssl.collect_once(order.ssl_id, CertificateFormat.X509CO)
    assert isinstance(result, Issued)
    return order.ssl_id


async def test_types_custom_fields_and_credentials(scm: ScmClient) -> None:
    await scm.check_credentials()
    profiles = {p.id: p for p in await scm.ssl.types()}
    assert profiles[AUTO].terms and "RSA" in profiles[AUTO].key_types
    assert profiles[54].key_types.keys() == {"RSA"}
    names = {f.name for f in await scm.ssl.custom_fields()}
    assert "Ticket" in names


async def test_enroll_collect_details(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.ssl.enroll(enroll_request(sandbox, "one.example.com", comments="k8s:a:1"))
    assert order.ssl_id > 0 and order.renew_id

    pem = await scm.ssl.collect(order.ssl_id, CertificateFormat.X509CO)
    leaf = x509.load_pem_x509_certificate(pem)
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "one.example.com"

    chain = await scm.ssl.collect(order.ssl_id, CertificateFormat.X509R)
    assert len(x509.load_pem_x509_certificates(chain)) >= 2

    details = await scm.ssl.details(order.ssl_id)
    assert details.certificate_id == order.ssl_id
    assert details.status == "Issued"
    assert details.comments == "k8s:a:1"
    assert details.serial_number
    assert details.expires is not None and details.expires > details.issued  # type: ignore[operator]
    assert details.cert_type is not None and details.cert_type.id == AUTO


async def test_search_filters_paging_and_count(scm: ScmClient, sandbox: SandboxHandle) -> None:
    for _ in range(3):
        await scm.ssl.enroll(enroll_request(sandbox, "paged.example.com"))
    await scm.ssl.enroll(enroll_request(sandbox, "other.example.com"))

    flt = SslFilter(common_name="paged.example.com")
    page = await scm.ssl.search(flt, size=2)
    assert len(page.items) == 2 and page.total_count == 3
    assert all(item.common_name == "paged.example.com" for item in page.items)
    everything = [item.ssl_id async for item in scm.ssl.search_all(flt, page_size=2)]
    assert len(set(everything)) == 3
    assert await scm.ssl.count(flt) == 3
    assert await scm.ssl.count() == 4

    serial = (await scm.ssl.details(everything[0])).serial_number
    assert serial
    by_serial = await scm.ssl.search(SslFilter(serial_number=serial))
    assert [i.ssl_id for i in by_serial.items] == [everything[0]]
    issued = await scm.ssl.count(SslFilter(status="Issued", common_name="other.example.com"))
    assert issued == 1


async def test_renew_by_id_and_by_renew_id(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.ssl.enroll(enroll_request(sandbox, "renew.example.com"))
    await scm.ssl.collect(order.ssl_id, "x509CO")
    new_id = await scm.ssl.renew_by_id(order.ssl_id)
    assert new_id != order.ssl_id
    assert isinstance(await scm.ssl.collect_once(new_id, "x509CO"), Issued)
    with_csr = await scm.ssl.renew_by_id(new_id, csr=make_csr("renew.example.com"))
    assert with_csr not in (order.ssl_id, new_id)

    assert order.renew_id is not None
    before = await scm.ssl.count(SslFilter(common_name="renew.example.com"))
    await scm.ssl.renew(order.renew_id)
    assert await scm.ssl.count(SslFilter(common_name="renew.example.com")) == before + 1


async def test_replace_keeps_the_id_with_a_new_serial(
    scm: ScmClient, sandbox: SandboxHandle
) -> None:
    ssl_id = await issued_order(scm, sandbox, "replace.example.com")
    old_serial = (await scm.ssl.details(ssl_id)).serial_number
    await scm.ssl.replace(
        ssl_id,
        csr=make_csr("replace2.example.com"),
        reason="key rotation",
        common_name="replace2.example.com",
        subject_alternative_names=["replace2.example.com"],
    )
    result = await scm.ssl.collect_once(ssl_id, CertificateFormat.X509CO)
    assert isinstance(result, Issued)
    details = await scm.ssl.details(ssl_id)
    assert details.serial_number and details.serial_number != old_serial
    assert details.common_name == "replace2.example.com"


async def test_revoke_and_revoke_by_serial(scm: ScmClient, sandbox: SandboxHandle) -> None:
    first = await issued_order(scm, sandbox, "revoke.example.com")
    await scm.ssl.revoke(first, reason_code=RevocationReason.SUPERSEDED, reason="rotated")
    details = await scm.ssl.details(first)
    assert details.status == "Revoked" and details.reason_code == 4
    with pytest.raises(ScmAlreadyRevokedError) as info:
        await scm.ssl.revoke(first, reason_code=0, reason="again")
    assert info.value.code == -159
    with pytest.raises(ScmConflictError) as revoked:
        await scm.ssl.collect(first, "x509CO")
    assert revoked.value.code == -110

    second = await issued_order(scm, sandbox, "revoke.example.com")
    serial = (await scm.ssl.details(second)).serial_number
    assert serial
    await scm.ssl.revoke_by_serial(serial, reason_code=1, reason="key compromise")
    assert (await scm.ssl.details(second)).status == "Revoked"


async def test_revoke_pending_order_is_conflict(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.ssl.enroll(enroll_request(sandbox, "pend.example.com", profile=APPROVAL))
    with pytest.raises(ScmConflictError) as info:
        await scm.ssl.revoke(order.ssl_id, reason_code=0, reason="no")
    assert info.value.code == -102


async def test_approval_flow(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.ssl.enroll(enroll_request(sandbox, "approve.example.com", profile=APPROVAL))
    pending = await scm.ssl.collect_once(order.ssl_id, CertificateFormat.PEMIA)
    assert isinstance(pending, Pending)
    assert pending.code == 0 and pending.status == "Requested" and pending.awaiting_approval
    await scm.ssl.approve(order.ssl_id, "ok")
    issued = await scm.ssl.collect_until(
        order.ssl_id, CertificateFormat.PEMIA, loop_period=0.05, max_timeout=5
    )
    assert isinstance(issued, Issued) and b"BEGIN CERTIFICATE" in issued.material
    with pytest.raises(ScmConflictError) as info:
        await scm.ssl.approve(order.ssl_id, "twice")
    assert info.value.code == -1112


async def test_decline_makes_collect_fail_with_status(
    scm: ScmClient, sandbox: SandboxHandle
) -> None:
    order = await scm.ssl.enroll(enroll_request(sandbox, "decline.example.com", profile=APPROVAL))
    await scm.ssl.decline(order.ssl_id, "not for you")
    with pytest.raises(ScmOrderFailedError) as info:
        await scm.ssl.collect_once(order.ssl_id, CertificateFormat.X509CO)
    assert info.value.status == "Declined"
    assert (await scm.ssl.details(order.ssl_id)).status == "Declined"


@pytest.mark.parametrize("pending_code", [0, -1400, -183])
async def test_collect_until_times_out_with_state_saved(
    scm: ScmClient, sandbox: SandboxHandle, pending_code: int
) -> None:
    sandbox.set_pending_code(pending_code)
    sandbox.update_settings(issueAfterCollects=1000)
    order = await scm.ssl.enroll(enroll_request(sandbox, "slow.example.com"))
    result = await scm.ssl.collect_until(
        order.ssl_id, "x509CO", loop_period=0.02, max_timeout=0.1, check_status=False
    )
    assert isinstance(result, TimedOutStateSaved)
    assert result.code == pending_code and result.attempts >= 2
    calls = sandbox.counters()["collectCallsByOrder"]
    assert sum(calls.values()) == result.attempts


async def test_collect_until_issues_after_some_polls(
    scm: ScmClient, sandbox: SandboxHandle
) -> None:
    sandbox.update_settings(issueAfterCollects=2)
    order = await scm.ssl.enroll(enroll_request(sandbox, "polls.example.com"))
    result = await scm.ssl.collect_until(
        order.ssl_id, "x509CO", loop_period=0.01, max_timeout=5, check_status=False
    )
    assert isinstance(result, Issued)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"term": 3}, -36, id="term"),
        pytest.param({"cert_type": 999}, -39, id="profile"),
        pytest.param({"csr": "not a csr"}, -138, id="csr"),
        pytest.param({"cert_type": TICKET}, -62, id="missing custom field"),
    ],
)
async def test_enroll_invalid_requests(
    scm: ScmClient, sandbox: SandboxHandle, overrides: dict[str, object], code: int
) -> None:
    request = enroll_request(sandbox, "bad.example.com").model_copy(update=overrides)
    with pytest.raises(ScmInvalidRequestError) as info:
        await scm.ssl.enroll(request)
    assert info.value.code == code and info.value.http_status == 400
    assert info.value.description


async def test_enroll_with_mandatory_custom_field(scm: ScmClient, sandbox: SandboxHandle) -> None:
    request = enroll_request(
        sandbox,
        "ticket.example.com",
        profile=TICKET,
        custom_fields=[CustomFieldValue(name="Ticket", value="T-1")],
    )
    order = await scm.ssl.enroll(request)
    details = await scm.ssl.details(order.ssl_id)
    assert CustomFieldValue(name="Ticket", value="T-1") in details.custom_fields


async def test_unknown_format_is_invalid_request(scm: ScmClient, sandbox: SandboxHandle) -> None:
    ssl_id = await issued_order(scm, sandbox, "fmt.example.com")
    with pytest.raises(ScmInvalidRequestError) as info:
        await scm.ssl.collect(ssl_id, "nonsense")
    assert info.value.code == -126


async def test_not_found(scm: ScmClient) -> None:
    for call in (scm.ssl.details(987654), scm.ssl.collect(987654, "x509CO")):
        with pytest.raises(ScmNotFoundError) as info:
            await call
        assert info.value.http_status == 404 and info.value.code == -5101


async def test_find_ssl_order_by_marker(scm: ScmClient, sandbox: SandboxHandle) -> None:
    cn = "marker.example.com"
    await scm.ssl.enroll(enroll_request(sandbox, cn, comments="k8s:uid:10"))
    wanted = await scm.ssl.enroll(enroll_request(sandbox, cn, comments="team a; k8s:uid:1"))
    await scm.ssl.enroll(enroll_request(sandbox, cn, comments="k8s:uid:2"))
    await scm.ssl.enroll(enroll_request(sandbox, "elsewhere.example.com", comments="k8s:uid:3"))

    found = await scm.find_ssl_order_by_marker(cn, "k8s:uid:1")
    assert found is not None and found.certificate_id == wanted.ssl_id
    assert await scm.find_ssl_order_by_marker(cn, "k8s:uid:3") is None
    assert await scm.find_ssl_order_by_marker("nobody.example.com", "k8s:uid:1") is None
