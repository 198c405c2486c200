"""SCM's SSL certificate API (``/api/ssl/v1``): enroll, collect, renew, replace, revoke,
approve, decline, details and the marker look-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from . import collect as _collect
from .catalogue import (
    _MAX_PAGE,
    _SSL_DETAILS,
    _SSL_ENROLL,
    _SSL_ITEMS,
    _SSL_RENEW,
    SslFilter,
    _CatalogueApi,
    _revocation,
    _segment,
)
from .collect import CollectResult, Issued, TimedOutStateSaved
from .models import (
    SSL_FAILED,
    CertificateFormat,
    CustomField,
    Profile,
    RevocationReason,
    SslCertificate,
    SslEnrollRequest,
    SslEnrollResult,
    SslListItem,
    SslListPage,
    check_marker,
    comments_contain_marker,
)
from .transport import _certificate, _json, _no_body


class SslApi(_CatalogueApi[SslListItem, SslListPage, SslFilter]):
    """``/api/ssl/v1``: SSL/TLS server certificates (scm-api.md §5)."""

    _root = "/api/ssl/v1"
    _list = _root
    _kind = "ssl"
    _items = _SSL_ITEMS
    _page = SslListPage
    _pending_codes = _collect.SSL_COLLECT_PENDING_CODES
    _failed_statuses = SSL_FAILED

    async def types(self, organization_id: int | None = None) -> list[Profile]:
        """Certificate profiles (``certType`` ids, terms, key types)."""
        return await self._types(organization_id)

    async def custom_fields(self) -> list[CustomField]:
        """Custom field definitions; enroll must carry every mandatory one."""
        return await self._custom_fields()

    async def enroll(self, request: SslEnrollRequest) -> SslEnrollResult:
        """Order a certificate. Never re-posted: a lost answer raises :class:`ScmResponseLost`."""
        return await self._t.call(
            "POST",
            f"{self._root}/enroll",
            _json(_SSL_ENROLL),
            operation="ssl enroll",
            json=request.to_wire(),
        )

    async def collect(self, ssl_id: int, format: CertificateFormat | str) -> bytes:
        """Download the certificate; raises :class:`ScmPendingError` (or kin) until issued."""
        return await self._t.call(
            "GET",
            f"{self._root}/collect/{_segment(ssl_id)}",
            _certificate,
            operation="ssl collect",
            params={"format": str(format)},
        )

    async def details(self, ssl_id: int) -> SslCertificate:
        """The certificate record: status, comments, serial number, dates..."""
        return await self._t.call(
            "GET", f"{self._root}/{_segment(ssl_id)}", _json(_SSL_DETAILS), operation="ssl details"
        )

    async def search(
        self, filters: SslFilter | None = None, *, size: int = _MAX_PAGE, position: int = 0
    ) -> SslListPage:
        """One page of certificates matching ``filters`` (``size`` <= 200)."""
        return await self._search(filters, size, position)

    async def search_all(
        self, filters: SslFilter | None = None, *, page_size: int = _MAX_PAGE
    ) -> AsyncIterator[SslListItem]:
        """Every matching certificate, page by page."""
        async for item in self._search_all(filters, page_size):
            yield item

    async def count(self, filters: SslFilter | None = None) -> int:
        """Number of matching certificates (``HEAD``, ``X-Total-Count``)."""
        return await self._count(filters)

    async def renew_by_id(self, ssl_id: int, csr: str | None = None) -> int:
        """Renew (``renewById``); returns the NEW sslId. ``csr`` None reuses the original CSR."""
        result = await self._t.call(
            "POST",
            f"{self._root}/renewById/{_segment(ssl_id)}",
            _json(_SSL_RENEW),
            operation="ssl renew",
            json={"csr": csr} if csr else {},
        )
        return result.ssl_id

    async def renew(self, renew_id: str, csr: str | None = None) -> None:
        """Renew by ``renewId`` (204, SCM returns no id: prefer :meth:`renew_by_id`)."""
        await self._t.call(
            "POST",
            f"{self._root}/renew/{_segment(renew_id)}",
            _no_body,
            operation="ssl renew",
            json={"csr": csr} if csr else {},
        )

    async def replace(
        self,
        ssl_id: int,
        *,
        csr: str,
        reason: str,
        common_name: str | None = None,
        subject_alternative_names: list[str] | None = None,
    ) -> None:
        """Re-issue under the same sslId with a new CSR; collect it again afterwards."""
        body: dict[str, Any] = {"csr": csr, "reason": reason}
        if common_name is not None:
            body["commonName"] = common_name
        if subject_alternative_names is not None:
            body["subjectAlternativeNames"] = list(subject_alternative_names)
        await self._t.call(
            "POST",
            f"{self._root}/replace/{_segment(ssl_id)}",
            _no_body,
            operation="ssl replace",
            json=body,
        )

    async def revoke(
        self, ssl_id: int, *, reason_code: RevocationReason | int, reason: str
    ) -> None:
        """Revoke; :class:`ScmAlreadyRevokedError` (-159) if it already is."""
        await self._t.call(
            "POST",
            f"{self._root}/revoke/{_segment(ssl_id)}",
            _no_body,
            operation="ssl revoke",
            json=_revocation(reason_code, reason),
        )

    async def revoke_by_serial(
        self, serial_number: str, *, reason_code: RevocationReason | int, reason: str
    ) -> None:
        """Revoke by serial number."""
        await self._t.call(
            "POST",
            f"{self._root}/revoke/serial/{_segment(serial_number)}",
            _no_body,
            operation="ssl revoke",
            json=_revocation(reason_code, reason),
        )

    async def approve(self, ssl_id: int, message: str) -> None:
        """Approve a ``Requested`` order (needs an approving admin)."""
        await self._t.call(
            "POST",
            f"{self._root}/approve/{_segment(ssl_id)}",
            _no_body,
            operation="ssl approve",
            json={"message": message},
        )

    async def decline(self, ssl_id: int, message: str) -> None:
        """Decline a ``Requested`` order."""
        await self._t.call(
            "POST",
            f"{self._root}/decline/{_segment(ssl_id)}",
            _no_body,
            operation="ssl decline",
            json={"message": message},
        )

    async def collect_once(
        self, ssl_id: int, format: CertificateFormat | str, *, check_status: bool = True
    ) -> CollectResult:
        """One collect: :class:`Issued` or :class:`Pending` (with the details status if checked)."""

        async def status() -> str | None:
            return (await self.details(ssl_id)).status

        return await self._collect_once(
            lambda: self.collect(ssl_id, format), format, status if check_status else None
        )

    async def collect_until(
        self,
        ssl_id: int,
        format: CertificateFormat | str,
        *,
        loop_period: float,
        max_timeout: float,
        check_status: bool = True,
        clock: _collect.Clock = time.monotonic,
        sleep: _collect.Sleep = asyncio.sleep,
    ) -> Issued | TimedOutStateSaved:
        """Vault-plugin collect loop: Issued, TimedOutStateSaved, or the SCM error raised."""
        return await _collect.collect_until(
            lambda: self.collect_once(ssl_id, format, check_status=check_status),
            loop_period=loop_period,
            max_timeout=max_timeout,
            clock=clock,
            sleep=sleep,
        )

    async def find_by_marker(self, common_name: str, marker: str) -> SslCertificate | None:
        """The order whose ``comments`` carry ``marker`` (newest first), or None.

        Lists by ``commonName`` and reads the details of each candidate (list items carry no
        comments), newest sslId first, stopping at the first match.
        """
        check_marker(marker)
        ids = [item.ssl_id async for item in self.search_all(SslFilter(common_name=common_name))]
        for ssl_id in sorted(set(ids), reverse=True):
            details = await self.details(ssl_id)
            if comments_contain_marker(details.comments, marker):
                return details
        return None
