"""SCM's client (S/MIME) certificate API (``/api/smime/v1`` and ``v2``): enroll, collect, renew,
replace, revoke, approve, decline, details and the marker look-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Final

from . import collect as _collect
from .catalogue import (
    _MAX_PAGE,
    _SMIME_DETAILS,
    _SMIME_ITEMS,
    _SMIME_ORDER,
    SmimeFilter,
    _CatalogueApi,
    _revocation,
    _segment,
)
from .collect import CollectResult, Issued, TimedOutStateSaved
from .models import (
    SMIME_FAILED,
    CertificateFormat,
    CustomField,
    Profile,
    RevocationReason,
    SmimeCertificate,
    SmimeEnrollRequest,
    SmimeListItem,
    SmimeListPage,
    SmimeOrder,
    check_marker,
    comments_contain_marker,
)
from .transport import _certificate, _json, _no_body


class SmimeApi(_CatalogueApi[SmimeListItem, SmimeListPage, SmimeFilter]):
    """``/api/smime``: client (S/MIME) certificates (scm-api.md §6)."""

    _v1: Final = "/api/smime/v1"
    _v2: Final = "/api/smime/v2"
    _root = _v1
    _list = _v2
    _kind = "smime"
    _items = _SMIME_ITEMS
    _page = SmimeListPage
    _pending_codes = _collect.SMIME_COLLECT_PENDING_CODES
    _failed_statuses = SMIME_FAILED

    async def types(self, organization_id: int | None = None) -> list[Profile]:
        """Client certificate profiles."""
        return await self._types(organization_id)

    async def custom_fields(self) -> list[CustomField]:
        """Custom field definitions for client certificates."""
        return await self._custom_fields()

    async def enroll(self, request: SmimeEnrollRequest) -> SmimeOrder:
        """Order a client certificate. A lost answer raises :class:`ScmResponseLost`."""
        return await self._t.call(
            "POST",
            f"{self._v1}/enroll",
            _json(_SMIME_ORDER),
            operation="smime enroll",
            json=request.to_wire(),
        )

    async def collect(
        self, backend_cert_id: str, format: CertificateFormat | str | None = None
    ) -> bytes:
        """Download by ``backendCertId`` (SCM's default format is base64 PKCS#7)."""
        return await self._t.call(
            "GET",
            f"{self._v1}/collect/{_segment(backend_cert_id)}",
            _certificate,
            operation="smime collect",
            params={"format": str(format)} if format is not None else None,
        )

    async def search(
        self, filters: SmimeFilter | None = None, *, size: int = _MAX_PAGE, position: int = 0
    ) -> SmimeListPage:
        """One page of ``GET /api/smime/v2`` (items carry state and comments)."""
        return await self._search(filters, size, position)

    async def search_all(
        self, filters: SmimeFilter | None = None, *, page_size: int = _MAX_PAGE
    ) -> AsyncIterator[SmimeListItem]:
        """Every matching client certificate, page by page."""
        async for item in self._search_all(filters, page_size):
            yield item

    async def count(self, filters: SmimeFilter | None = None) -> int:
        """Number of matching client certificates (``HEAD``)."""
        return await self._count(filters)

    async def details(self, certificate_id: int) -> SmimeCertificate:
        """Details by SCM's internal ``id`` (from :meth:`search`, not from enroll)."""
        return await self._t.call(
            "GET",
            f"{self._v1}/{_segment(certificate_id)}",
            _json(_SMIME_DETAILS),
            operation="smime details",
        )

    async def renew_by_order(self, backend_cert_id: str) -> SmimeOrder:
        """Renew (same CSR, key not rotated); returns the NEW order."""
        return await self._t.call(
            "POST",
            f"{self._v2}/renew/order/{_segment(backend_cert_id)}",
            _json(_SMIME_ORDER),
            operation="smime renew",
        )

    async def renew_by_serial(self, serial_number: str) -> SmimeOrder:
        """Renew by serial number; returns the NEW order."""
        return await self._t.call(
            "POST",
            f"{self._v2}/renew/serial/{_segment(serial_number)}",
            _json(_SMIME_ORDER),
            operation="smime renew",
        )

    async def replace(
        self, order_number: str | int, *, csr: str, reason: str, revoke: bool
    ) -> None:
        """Legacy replace (deprecated by SCM: enroll again for a new key)."""
        await self._t.call(
            "POST",
            f"{self._v2}/replace/order/{_segment(order_number)}",
            _no_body,
            operation="smime replace",
            json={"csr": csr, "reason": reason, "revoke": revoke},
        )

    async def revoke_by_order(
        self, backend_cert_id: str, *, reason_code: RevocationReason | int, reason: str = ""
    ) -> None:
        """Revoke one client certificate by ``backendCertId``."""
        await self._t.call(
            "POST",
            f"{self._v1}/revoke/order/{_segment(backend_cert_id)}",
            _no_body,
            operation="smime revoke",
            json=_revocation(reason_code, reason),
        )

    async def revoke_by_serial(
        self, serial_number: str, *, reason_code: RevocationReason | int, reason: str = ""
    ) -> None:
        """Revoke one client certificate by serial number."""
        await self._t.call(
            "POST",
            f"{self._v1}/revoke/serial/{_segment(serial_number)}",
            _no_body,
            operation="smime revoke",
            json=_revocation(reason_code, reason),
        )

    async def revoke_by_email(
        self, email: str, *, reason_code: RevocationReason | int, reason: str = ""
    ) -> None:
        """Revoke every client certificate of a person."""
        await self._t.call(
            "POST",
            f"{self._v1}/revoke",
            _no_body,
            operation="smime revoke",
            json={**_revocation(reason_code, reason), "email": email},
        )

    async def state(self, backend_cert_id: str) -> str | None:
        """The order's list ``state`` (``requested``, ``issued``...), None if not listed."""
        page = await self.search(SmimeFilter(backend_cert_id=backend_cert_id), size=1)
        return page.items[0].state if page.items else None

    async def collect_once(
        self,
        backend_cert_id: str,
        format: CertificateFormat | str | None = None,
        *,
        check_status: bool = True,
    ) -> CollectResult:
        """One collect: :class:`Issued` or :class:`Pending` (with the list state if checked)."""
        return await self._collect_once(
            lambda: self.collect(backend_cert_id, format),
            format,
            (lambda: self.state(backend_cert_id)) if check_status else None,
        )

    async def collect_until(
        self,
        backend_cert_id: str,
        format: CertificateFormat | str | None = None,
        *,
        loop_period: float,
        max_timeout: float,
        check_status: bool = True,
        clock: _collect.Clock = time.monotonic,
        sleep: _collect.Sleep = asyncio.sleep,
    ) -> Issued | TimedOutStateSaved:
        """Vault-plugin collect loop for client certificates."""
        return await _collect.collect_until(
            lambda: self.collect_once(backend_cert_id, format, check_status=check_status),
            loop_period=loop_period,
            max_timeout=max_timeout,
            clock=clock,
            sleep=sleep,
        )

    async def find_by_marker(self, email: str, marker: str) -> SmimeListItem | None:
        """The order for ``email`` whose ``comments`` carry ``marker`` (newest first), or None."""
        check_marker(marker)
        items = [item async for item in self.search_all(SmimeFilter(email=email))]
        items.sort(key=lambda item: (item.order_number or 0, item.id or 0), reverse=True)
        for item in items:
            if comments_contain_marker(item.comments, marker):
                return item
        return None
