"""What the SSL and S/MIME APIs share: list filters, paging, the response adapters, and
:class:`_CatalogueApi` (profiles, custom fields, list pages, marker look-ups).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from . import collect as _collect
from .collect import CollectResult
from .models import (
    CertificateFormat,
    CustomField,
    Profile,
    RevocationReason,
    SmimeCertificate,
    SmimeListItem,
    SmimeOrder,
    SslCertificate,
    SslEnrollResult,
    SslListItem,
    SslRenewResult,
)
from .transport import _json, _required_total, _total_count, _Transport

_MAX_PAGE: Final = 200


# --- filters ------------------------------------------------------------------------------------


class _Filter(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True
    )

    def to_params(self) -> dict[str, str]:
        data = self.model_dump(by_alias=True, exclude_none=True)
        return {key: str(value) for key, value in data.items()}


class SslFilter(_Filter):
    """Filters of ``GET /api/ssl/v1`` (§5.5); other SCM filters may be passed by camelCase name."""

    common_name: str | None = None
    subject_alternative_name: str | None = None
    status: str | None = None
    serial_number: str | None = None
    ssl_type_id: int | None = None
    org_id: int | None = None
    requester: str | None = None
    external_requester: str | None = None


class SmimeFilter(_Filter):
    """Filters of ``GET /api/smime/v2`` (§6.6)."""

    email: str | None = None
    backend_cert_id: str | None = None
    serial_number: str | None = None
    state: str | None = None
    cert_type_id: int | None = None
    person_id: int | None = None


_PROFILES = TypeAdapter(list[Profile])
_CUSTOM_FIELDS = TypeAdapter(list[CustomField])
_SSL_ENROLL = TypeAdapter(SslEnrollResult)
_SSL_RENEW = TypeAdapter(SslRenewResult)
_SSL_DETAILS = TypeAdapter(SslCertificate)
_SSL_ITEMS = TypeAdapter(list[SslListItem])
_SMIME_ORDER = TypeAdapter(SmimeOrder)
_SMIME_DETAILS = TypeAdapter(SmimeCertificate)
_SMIME_ITEMS = TypeAdapter(list[SmimeListItem])


def _segment(value: str | int) -> str:
    return quote(str(value), safe=":")


def _page_params(filters: _Filter | None, size: int, position: int) -> dict[str, str]:
    if not 1 <= size <= _MAX_PAGE or position < 0:
        raise ValueError(f"size must be 1..{_MAX_PAGE} and position >= 0")
    params = filters.to_params() if filters is not None else {}
    params.update(size=str(size), position=str(position))
    return params


def _revocation(reason_code: RevocationReason | int, reason: str) -> dict[str, Any]:
    return {"reasonCode": int(RevocationReason(reason_code)), "reason": reason}


# --- the APIs -----------------------------------------------------------------------------------

_ItemT = TypeVar("_ItemT")
_ItemT_co = TypeVar("_ItemT_co", covariant=True)
_FilterT = TypeVar("_FilterT", bound=_Filter)


class _Page(Protocol[_ItemT_co]):
    """What paging needs of a list page (``SslListPage``, ``SmimeListPage``)."""

    @property
    def items(self) -> Sequence[_ItemT_co]: ...

    @property
    def total_count(self) -> int | None: ...


_PageT = TypeVar("_PageT", bound=_Page[Any])


class _CatalogueApi(Generic[_ItemT, _PageT, _FilterT]):
    """What the SSL and S/MIME APIs share: profiles, custom fields, the paged list, collect.

    A subclass names its paths, the prefix of its operation names, its list models and its
    collect codes; its public methods (with their own signatures and docstrings) call these.
    """

    _root: str  # types and customFields live under it
    _list: str  # the paged list (GET) and its count (HEAD)
    _kind: str  # prefix of the operation names: "ssl", "smime"
    _items: TypeAdapter[list[_ItemT]]
    _page: Callable[..., _PageT]
    _pending_codes: frozenset[int]
    _failed_statuses: frozenset[str]

    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    async def _types(self, organization_id: int | None) -> list[Profile]:
        params = {"organizationId": str(organization_id)} if organization_id else None
        return await self._t.call(
            "GET",
            f"{self._root}/types",
            _json(_PROFILES),
            operation=f"{self._kind} types",
            params=params,
        )

    async def _custom_fields(self) -> list[CustomField]:
        return await self._t.call(
            "GET",
            f"{self._root}/customFields",
            _json(_CUSTOM_FIELDS),
            operation=f"{self._kind} fields",
        )

    async def _search(self, filters: _FilterT | None, size: int, position: int) -> _PageT:
        def parse(response: httpx.Response) -> _PageT:
            items = self._items.validate_json(response.content)
            return self._page(items=items, total_count=_total_count(response))

        params = _page_params(filters, size, position)
        return await self._t.call(
            "GET", self._list, parse, operation=f"{self._kind} list", params=params
        )

    async def _search_all(self, filters: _FilterT | None, page_size: int) -> AsyncIterator[_ItemT]:
        position = 0
        while True:
            page: _Page[_ItemT] = await self._search(filters, page_size, position)
            for item in page.items:
                yield item
            position += len(page.items)
            if len(page.items) < page_size or (
                page.total_count is not None and position >= page.total_count
            ):
                return

    async def _count(self, filters: _FilterT | None) -> int:
        params = filters.to_params() if filters is not None else None
        return await self._t.call(
            "HEAD", self._list, _required_total, operation=f"{self._kind} count", params=params
        )

    async def _collect_once(
        self,
        fetch: Callable[[], Awaitable[bytes]],
        format: CertificateFormat | str | None,
        status_of: Callable[[], Awaitable[str | None]] | None,
    ) -> CollectResult:
        return await _collect.collect_once(
            fetch,
            format=str(format) if format is not None else None,
            pending_codes=self._pending_codes,
            status_of=status_of,
            failed_statuses=self._failed_statuses,
        )
