"""The order kind of a certificate: SSL or client (S/MIME), one small protocol, two classes.

Everything that differs between the two SCM APIs lives here, so the other modules never branch
on the certificate type: which id is collected, the enroll body, how an order whose answer was
lost is found again, renewal and replacement. ``kind_of(spec)`` picks the implementation.

SCM differences that shape the lifecycle (scm-api.md §5.8-§5.10, §6.4):

- SSL ``renewById`` makes a NEW order and takes a new CSR (so the key can rotate); ``replace``
  re-issues under the SAME sslId with a new CSR and new names, without a new order.
- Client ``renew/order`` makes a new order reusing the old CSR (no new key), and SCM deprecates
  client ``replace``: a client certificate that needs a new key or new names is enrolled anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from ..configs import ConfigEntry, Kind
from ..models import CertificateSpec, CertificateStatus, CertificateType, cert_unique_id
from ..models.certificate import IssuedOrder
from ..policies import EnrollPlan
from ..scm import (
    CollectResult,
    CustomFieldValue,
    ScmClient,
    SmimeEnrollRequest,
    SmimeFilter,
    SslEnrollRequest,
    SslFilter,
)

CHAIN_FORMAT = "x509"
"""What the operator collects for the Secret: the whole chain as PEM (any order is fine)."""


@dataclass(frozen=True)
class OrderRef:
    """An order at SCM: its id (sslId or order number) and the client's backendCertId."""

    number: int
    backend_cert_id: str | None = None
    renew_id: str | None = None


class OrderKind(Protocol):
    """What differs between SSL and client orders."""

    scm: ClassVar[Kind]
    issued_status: ClassVar[str]
    """SCM's spelling of "issued" for this kind, as shown in ``status.scmStatus``."""
    can_replace: ClassVar[bool]
    """SCM re-issues with a new key and new names under the same id."""
    renew_takes_csr: ClassVar[bool]
    """SCM's renew accepts a new CSR (so the key can rotate)."""

    def order_number(self, status: CertificateStatus) -> int | None:
        """The id of the order the status follows."""

    def record(self, status: CertificateStatus, ref: OrderRef, customer_uri: str) -> None:
        """Make ``ref`` the order the status follows."""

    def enroll_request(
        self, plan: EnrollPlan, csr_pem: str, config: ConfigEntry, comments: str
    ) -> SslEnrollRequest | SmimeEnrollRequest: ...

    async def enroll(
        self, client: ScmClient, request: SslEnrollRequest | SmimeEnrollRequest
    ) -> OrderRef: ...

    async def find_by_marker(
        self, client: ScmClient, identity: str, marker: str
    ) -> OrderRef | None:
        """The order placed with ``marker``, listed under ``identity`` (``EnrollPlan.identity``
        when it was placed)."""

    async def collect_once(self, client: ScmClient, status: CertificateStatus) -> CollectResult: ...

    async def renew(
        self, client: ScmClient, status: CertificateStatus, csr: str | None
    ) -> OrderRef:
        """Renew the order the status follows; ``csr`` None reuses the old CSR (and key)."""

    async def find_renewal(
        self, client: ScmClient, identity: str, source: int, uid_prefix: str
    ) -> OrderRef | None:
        """The renewal of ``source`` made by this certificate, listed under ``identity`` (None:
        SCM did not renew it)."""

    async def replace(
        self, client: ScmClient, number: int, csr: str, reason: str, plan: EnrollPlan
    ) -> None: ...

    async def revoke(
        self, client: ScmClient, status: CertificateStatus, reason_code: int, reason: str
    ) -> None:
        """Revoke the certificate in the Secret (``issued``; ``ScmAlreadyRevokedError`` if it
        is revoked already)."""


def followed(status: CertificateStatus) -> IssuedOrder:
    """SCM's ids of the order the status follows (at issuance: of the certificate stored)."""
    return IssuedOrder(
        ssl_id=status.ssl_id,
        order_number=status.order_number,
        backend_cert_id=status.backend_cert_id,
    )


def issued(status: CertificateStatus) -> IssuedOrder:
    """SCM's ids of the certificate in the Secret: recorded at issuance, else (a status written
    before they were) the ids of the order the status follows."""
    return status.issued_order or followed(status)


def _custom(plan: EnrollPlan) -> list[CustomFieldValue] | None:
    return [CustomFieldValue(name=n, value=v) for n, v in plan.custom_fields] or None


class SslKind:
    """SSL certificates (``/api/ssl/v1``)."""

    scm: ClassVar[Kind] = "ssl"
    issued_status: ClassVar[str] = "Issued"
    can_replace: ClassVar[bool] = True
    renew_takes_csr: ClassVar[bool] = True

    def order_number(self, status: CertificateStatus) -> int | None:
        return status.ssl_id

    def record(self, status: CertificateStatus, ref: OrderRef, customer_uri: str) -> None:
        status.ssl_id = ref.number
        if ref.renew_id is not None:
            status.renew_id = ref.renew_id
        status.cert_unique_id = cert_unique_id(ref.number, customer_uri)

    def enroll_request(
        self, plan: EnrollPlan, csr_pem: str, config: ConfigEntry, comments: str
    ) -> SslEnrollRequest:
        return SslEnrollRequest(
            org_id=config.spec.org_id,
            csr=csr_pem,
            cert_type=plan.cert_type,
            term=plan.term,
            subj_alt_names=list(plan.sans),
            comments=comments,
            external_requester=plan.external_requester,
            custom_fields=_custom(plan),
            dcv_mode=plan.dcv_mode,
            dcv_email=plan.dcv_email,
            number_servers=plan.number_servers,
            server_type=plan.server_type,
        )

    async def enroll(
        self, client: ScmClient, request: SslEnrollRequest | SmimeEnrollRequest
    ) -> OrderRef:
        assert isinstance(request, SslEnrollRequest)
        result = await client.ssl.enroll(request)
        return OrderRef(result.ssl_id, renew_id=result.renew_id)

    async def find_by_marker(
        self, client: ScmClient, identity: str, marker: str
    ) -> OrderRef | None:
        details = await client.find_ssl_order_by_marker(identity, marker)
        found = details.certificate_id if details is not None else None
        return OrderRef(found) if found is not None else None

    async def collect_once(self, client: ScmClient, status: CertificateStatus) -> CollectResult:
        assert status.ssl_id is not None
        return await client.ssl.collect_once(status.ssl_id, CHAIN_FORMAT)

    async def renew(
        self, client: ScmClient, status: CertificateStatus, csr: str | None
    ) -> OrderRef:
        assert status.ssl_id is not None
        return OrderRef(await client.ssl.renew_by_id(status.ssl_id, csr))

    async def find_renewal(
        self, client: ScmClient, identity: str, source: int, uid_prefix: str
    ) -> OrderRef | None:
        if not (await client.ssl.details(source)).renewed:
            return None
        candidates = sorted(
            {
                item.ssl_id
                async for item in client.ssl.search_all(SslFilter(common_name=identity))
                if item.ssl_id > source
            }
        )
        for ssl_id in candidates:
            if uid_prefix in ((await client.ssl.details(ssl_id)).comments or ""):
                return OrderRef(ssl_id)
        return None

    async def replace(
        self, client: ScmClient, number: int, csr: str, reason: str, plan: EnrollPlan
    ) -> None:
        await client.ssl.replace(
            number,
            csr=csr,
            reason=reason,
            common_name=plan.csr_request.common_name or None,
            subject_alternative_names=list(plan.sans),
        )

    async def revoke(
        self, client: ScmClient, status: CertificateStatus, reason_code: int, reason: str
    ) -> None:
        ssl_id = issued(status).ssl_id
        assert ssl_id is not None
        await client.ssl.revoke(ssl_id, reason_code=reason_code, reason=reason)


class ClientKind:
    """Client (S/MIME) certificates (``/api/smime``)."""

    scm: ClassVar[Kind] = "smime"
    issued_status: ClassVar[str] = "Issued"
    can_replace: ClassVar[bool] = False
    renew_takes_csr: ClassVar[bool] = False

    def order_number(self, status: CertificateStatus) -> int | None:
        return status.order_number

    def record(self, status: CertificateStatus, ref: OrderRef, customer_uri: str) -> None:
        status.order_number = ref.number
        status.backend_cert_id = ref.backend_cert_id or str(ref.number)
        status.cert_unique_id = cert_unique_id(ref.number, customer_uri)

    def enroll_request(
        self, plan: EnrollPlan, csr_pem: str, config: ConfigEntry, comments: str
    ) -> SmimeEnrollRequest:
        return SmimeEnrollRequest(
            org_id=config.spec.org_id,
            csr=csr_pem,
            cert_type=plan.cert_type,
            term=plan.term,
            email=plan.email or "",
            first_name=plan.first_name or "",
            middle_name=plan.middle_name,
            last_name=plan.last_name or "",
            phone=plan.phone,
            secondary_emails=list(plan.secondary_emails) or None,
            custom_fields=_custom(plan),
            common_name=plan.csr_request.common_name or None,
            eppn=plan.eppn,
            upn=plan.upn,
            comments=comments,
        )

    async def enroll(
        self, client: ScmClient, request: SslEnrollRequest | SmimeEnrollRequest
    ) -> OrderRef:
        assert isinstance(request, SmimeEnrollRequest)
        order = await client.smime.enroll(request)
        return OrderRef(order.order_number, order.backend_cert_id)

    async def find_by_marker(
        self, client: ScmClient, identity: str, marker: str
    ) -> OrderRef | None:
        item = await client.find_smime_order_by_marker(identity, marker)
        if item is None or item.order_number is None:
            return None
        return OrderRef(item.order_number, item.backend_cert_id or str(item.order_number))

    async def collect_once(self, client: ScmClient, status: CertificateStatus) -> CollectResult:
        assert status.backend_cert_id is not None
        return await client.smime.collect_once(status.backend_cert_id, CHAIN_FORMAT)

    async def renew(
        self, client: ScmClient, status: CertificateStatus, csr: str | None
    ) -> OrderRef:
        assert status.backend_cert_id is not None
        order = await client.smime.renew_by_order(status.backend_cert_id)
        return OrderRef(order.order_number, order.backend_cert_id)

    async def find_renewal(
        self, client: ScmClient, identity: str, source: int, uid_prefix: str
    ) -> OrderRef | None:
        items = [
            item
            async for item in client.smime.search_all(SmimeFilter(email=identity))
            if (item.order_number or 0) > source and uid_prefix in (item.comments or "")
        ]
        if not items:
            return None
        first = min(items, key=lambda item: item.order_number or 0)
        assert first.order_number is not None
        return OrderRef(first.order_number, first.backend_cert_id or str(first.order_number))

    async def replace(
        self, client: ScmClient, number: int, csr: str, reason: str, plan: EnrollPlan
    ) -> None:
        raise NotImplementedError("client certificates are enrolled anew, never replaced")

    async def revoke(
        self, client: ScmClient, status: CertificateStatus, reason_code: int, reason: str
    ) -> None:
        backend_cert_id = issued(status).backend_cert_id
        assert backend_cert_id is not None
        await client.smime.revoke_by_order(backend_cert_id, reason_code=reason_code, reason=reason)


def kind_of(spec: CertificateSpec) -> OrderKind:
    """The order kind of a certificate spec."""
    return ClientKind() if spec.certificate_type == CertificateType.CLIENT else SslKind()
