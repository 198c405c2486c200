"""Every S/MIME (client certificate) method against the sandbox SCM over HTTP."""

from __future__ import annotations

import pytest
from cryptography import x509

from sectigo_operator.sandbox.testing import SandboxHandle
from sectigo_operator.scm import (
    Issued,
    Pending,
    RevocationReason,
    ScmClient,
    ScmInvalidRequestError,
    ScmNotFoundError,
    ScmOrderFailedError,
    SmimeEnrollRequest,
    SmimeFilter,
    TimedOutStateSaved,
)

from .conftest import make_csr

CLIENT, CLIENT_APPROVAL = 61, 62


def enroll_request(
    sandbox: SandboxHandle, email: str, *, profile: int = CLIENT, comments: str | None = None
) -> SmimeEnrollRequest:
    return SmimeEnrollRequest(
        org_id=sandbox.org_id,
        csr=make_csr("Jane Doe", email=email),
        cert_type=profile,
        term=365,
        email=email,
        first_name="Jane",
        last_name="Doe",
        comments=comments,
    )


async def test_types_and_custom_fields(scm: ScmClient) -> None:
    await scm.check_credentials("smime")
    assert {p.id for p in await scm.smime.types()} >= {CLIENT, CLIENT_APPROVAL}
    assert await scm.smime.custom_fields()


async def test_enroll_collect_list_details(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.smime.enroll(enroll_request(sandbox, "jane@example.com", comments="k8s:x:1"))
    assert order.order_number > 0 and order.backend_cert_id == str(order.order_number)

    result = await scm.smime.collect_once(order.backend_cert_id, "x509CO")
    assert isinstance(result, Issued)
    leaf = x509.load_pem_x509_certificate(result.material)
    assert (
        x509.RFC822Name("jane@example.com")
        in leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    pkcs7 = await scm.smime.collect(order.backend_cert_id)  # SCM default: base64 PKCS#7
    assert b"PKCS7" in pkcs7

    page = await scm.smime.search(SmimeFilter(backend_cert_id=order.backend_cert_id))
    assert page.total_count == 1
    item = page.items[0]
    assert item.state == "issued" and item.comments == "k8s:x:1" and item.id is not None
    assert item.expires is not None

    details = await scm.smime.details(item.id)
    assert details.status == "issued" and details.backend_cert_id == order.backend_cert_id
    assert await scm.smime.count(SmimeFilter(email="jane@example.com")) == 1
    listed = [i async for i in scm.smime.search_all(SmimeFilter(email="jane@example.com"))]
    assert [i.backend_cert_id for i in listed] == [order.backend_cert_id]


async def test_renew_by_order_and_serial(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.smime.enroll(enroll_request(sandbox, "renew@example.com"))
    await scm.smime.collect(order.backend_cert_id, "x509CO")
    renewed = await scm.smime.renew_by_order(order.backend_cert_id)
    assert renewed.order_number != order.order_number
    items = (await scm.smime.search(SmimeFilter(backend_cert_id=order.backend_cert_id))).items
    serial = items[0].serial_number
    assert serial
    by_serial = await scm.smime.renew_by_serial(serial)
    assert by_serial.order_number not in (order.order_number, renewed.order_number)
    assert await scm.smime.count(SmimeFilter(email="renew@example.com")) == 3


async def test_legacy_replace(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.smime.enroll(enroll_request(sandbox, "replace@example.com"))
    await scm.smime.collect(order.backend_cert_id, "x509CO")
    csr = make_csr("Jane Doe", email="replace@example.com")
    await scm.smime.replace(order.order_number, csr=csr, reason="new key", revoke=True)
    replacements = sandbox.counters()["replacements"]
    assert replacements


async def test_revoke_by_order_serial_and_email(scm: ScmClient, sandbox: SandboxHandle) -> None:
    a = await scm.smime.enroll(enroll_request(sandbox, "rev@example.com"))
    b = await scm.smime.enroll(enroll_request(sandbox, "rev@example.com"))
    c = await scm.smime.enroll(enroll_request(sandbox, "rev2@example.com"))
    d = await scm.smime.enroll(enroll_request(sandbox, "rev2@example.com"))
    for order in (a, b, c, d):
        await scm.smime.collect(order.backend_cert_id, "x509CO")

    await scm.smime.revoke_by_order(a.backend_cert_id, reason_code=RevocationReason.SUPERSEDED)
    serial = (await scm.smime.search(SmimeFilter(backend_cert_id=b.backend_cert_id))).items[0]
    assert serial.serial_number
    await scm.smime.revoke_by_serial(serial.serial_number, reason_code=1, reason="lost")
    await scm.smime.revoke_by_email("rev2@example.com", reason_code=5, reason="left")
    states = {
        i.backend_cert_id: i.state async for i in scm.smime.search_all(SmimeFilter(state="revoked"))
    }
    assert set(states) == {o.backend_cert_id for o in (a, b, c, d)}


async def test_revoke_by_email_without_certificates_is_not_found(scm: ScmClient) -> None:
    with pytest.raises(ScmNotFoundError) as info:
        await scm.smime.revoke_by_email("nobody@example.com", reason_code=0)
    assert info.value.code == -1108


async def test_pending_approval_decline(scm: ScmClient, sandbox: SandboxHandle) -> None:
    order = await scm.smime.enroll(
        enroll_request(sandbox, "wait@example.com", profile=CLIENT_APPROVAL)
    )
    pending = await scm.smime.collect_once(order.backend_cert_id)
    assert isinstance(pending, Pending) and pending.status == "requested"
    timed_out = await scm.smime.collect_until(
        order.backend_cert_id, loop_period=0.02, max_timeout=0.06
    )
    assert isinstance(timed_out, TimedOutStateSaved) and timed_out.status == "requested"
    (row,) = sandbox.orders(email="wait@example.com")
    sandbox.decline(row["id"])
    with pytest.raises(ScmOrderFailedError) as info:
        await scm.smime.collect_once(order.backend_cert_id)
    assert info.value.status == "rejected"


async def test_invalid_enroll(scm: ScmClient, sandbox: SandboxHandle) -> None:
    request = enroll_request(sandbox, "bad@example.com").model_copy(update={"cert_type": 999})
    with pytest.raises(ScmInvalidRequestError) as info:
        await scm.smime.enroll(request)
    assert info.value.code is not None


async def test_find_smime_order_by_marker(scm: ScmClient, sandbox: SandboxHandle) -> None:
    email = "marker@example.com"
    await scm.smime.enroll(enroll_request(sandbox, email, comments="k8s:m:10"))
    wanted = await scm.smime.enroll(enroll_request(sandbox, email, comments="k8s:m:1"))
    await scm.smime.enroll(enroll_request(sandbox, "x@example.com", comments="k8s:m:2"))
    found = await scm.find_smime_order_by_marker(email, "k8s:m:1")
    assert found is not None and found.backend_cert_id == wanted.backend_cert_id
    assert await scm.find_smime_order_by_marker(email, "k8s:m:2") is None
