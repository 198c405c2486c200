"""The async SCM REST client the operator uses for every SCM call.

    async with ScmClient(connection) as scm:
        order = await scm.ssl.enroll(SslEnrollRequest(..., comments=marker))
        result = await scm.ssl.collect_once(order.ssl_id, CertificateFormat.X509R)

One :class:`ScmClient` per SCM connection (SectigoConfig): one pooled ``httpx.AsyncClient``, one
semaphore limiting requests in flight, one retry loop (:meth:`_Transport.call`, the only place that
retries). ``scm.ssl`` and ``scm.smime`` group the endpoints of the two APIs.

Retry rules: idempotent calls (GET, HEAD) are retried on every :class:`ScmRetryableError` (5xx,
408, 429, retryable codes, transport errors, unreadable bodies). Non-idempotent calls (enroll,
renew, replace, revoke, approve, decline) are re-sent only when SCM certainly did not see them:
the connection was never established. Everything else is raised at once: an HTTP 408/429/5xx
without an SCM error body (from SCM or any proxy in front of it, 429 and 503 included: SCM does
not document that these mean "not processed"), a read timeout, a dropped connection or a 2xx body
that cannot be read raises :class:`ScmResponseLost` (``retry_after`` kept), and the caller looks
the order up (by marker) instead of posting again; an error answer carrying an SCM ``code`` is
raised as that error (SCM refused the call), also without a re-post. See ``errors.py``.

Logging: logger ``sectigo_operator.scm.client``; DEBUG lines carry method, path, status, timing and
attempt only. Credentials go into request headers through :class:`_ScmAuth` at send time; they are
never logged, never put into exceptions (SCM descriptions are scrubbed), and not in any repr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Generic, Literal, Protocol, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from .. import metrics
from . import collect as _collect
from .collect import CollectResult, Issued, TimedOutStateSaved
from .config import ScmConnection
from .errors import (
    ScmError,
    ScmMalformedResponse,
    ScmPendingError,
    ScmResponseLost,
    ScmRetryableError,
    ScmTransportError,
    error_from_response,
    parse_retry_after,
)
from .models import (
    SMIME_FAILED,
    SSL_FAILED,
    CertificateFormat,
    CustomField,
    Profile,
    RevocationReason,
    SmimeCertificate,
    SmimeEnrollRequest,
    SmimeListItem,
    SmimeListPage,
    SmimeOrder,
    SslCertificate,
    SslEnrollRequest,
    SslEnrollResult,
    SslListItem,
    SslListPage,
    SslRenewResult,
    check_marker,
    comments_contain_marker,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_JSON_HEADERS: Final = {"Accept": "application/json"}
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


# --- transport ----------------------------------------------------------------------------------


class _ScmAuth(httpx.Auth):
    """Adds SCM's ``login``/``password``/``customerUri`` headers at send time."""

    def __init__(self, connection: ScmConnection) -> None:
        self._connection = connection

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["login"] = self._connection.login
        request.headers["customerUri"] = self._connection.customer_uri
        if self._connection.password is not None:
            request.headers["password"] = self._connection.password.get_secret_value()
        yield request

    def __repr__(self) -> str:
        return "<ScmAuth (redacted)>"


def _tls_context(connection: ScmConnection) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if connection.ca_bundle_pem:
        context.load_verify_locations(cadata=connection.ca_bundle_pem.decode("ascii"))
    if not connection.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = connection.client_certificate
    if cert is not None:
        _load_client_certificate(
            context, cert.certificate_pem, cert.private_key_pem.get_secret_value()
        )
    return context


def _load_client_certificate(context: ssl.SSLContext, certificate: bytes, key: bytes) -> None:
    """Load a client key pair into ``context`` without leaving the key on any file system.

    Python's ssl module loads key pairs from paths only. On Linux the pair goes into anonymous
    memory files (``memfd_create``), opened through ``/proc/self/fd``: nothing is written to a
    file system, and a killed process leaves nothing behind. Elsewhere (or if that fails) the pair
    goes into a private 0700 directory, on ``/dev/shm`` when present, removed in ``finally``.
    """
    fds = _memory_files(certificate, key)
    if fds is not None:
        try:
            context.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
        finally:
            for fd in fds:
                os.close(fd)
        return
    shm = "/dev/shm"  # noqa: S108 (mkdtemp makes a private, randomly named 0700 directory)
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
    directory = tempfile.mkdtemp(prefix="scm-client-", dir=base)  # mode 0700
    try:
        paths = (os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem"))
        for path, data in zip(paths, (certificate, key), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(*paths)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _memory_files(*contents: bytes) -> list[int] | None:
    """Anonymous in-memory files holding ``contents``; ``None`` where the OS has none."""
    create = getattr(os, "memfd_create", None)
    if create is None:
        return None
    fds: list[int] = []
    try:
        for data in contents:
            fd = create("scm-client", os.MFD_CLOEXEC)
            fds.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if not os.path.exists(f"/proc/self/fd/{fd}"):
                raise OSError("no /proc/self/fd")
    except OSError:
        for fd in fds:
            os.close(fd)
        return None
    return fds


class _Transport:
    """HTTP plumbing: the pooled client, the semaphore, error mapping and the retry loop."""

    def __init__(
        self,
        connection: ScmConnection,
        *,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        rand: Callable[[], float],
    ) -> None:
        self._connection = connection
        self._sleep = sleep
        self._rand = rand
        self._semaphore = asyncio.Semaphore(connection.max_concurrency)
        secret = connection.password.get_secret_value() if connection.password else None
        self._secrets = tuple(s for s in (secret,) if s)
        timeout = httpx.Timeout(
            connect=connection.connect_timeout,
            read=connection.read_timeout,
            write=connection.write_timeout,
            pool=connection.pool_timeout,
        )
        limits = httpx.Limits(
            max_connections=connection.max_concurrency,
            max_keepalive_connections=connection.max_concurrency,
        )
        verify: ssl.SSLContext | bool = True
        if transport is None and connection.base_url.startswith("https"):
            verify = _tls_context(connection)
        self._http = httpx.AsyncClient(
            base_url=connection.api_root,
            auth=_ScmAuth(connection),
            timeout=timeout,
            limits=limits,
            verify=verify,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def scrub(self, text: str | None) -> str | None:
        """Remove any credential from text that came from outside (SCM bodies, library errors)."""
        if text is None:
            return None
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def call(
        self,
        method: Literal["GET", "HEAD", "POST"],
        path: str,
        parse: Callable[[httpx.Response], T],
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> T:
        """Send one logical call, retrying per the module's rules; return ``parse(response)``."""
        idempotent = method in ("GET", "HEAD")
        policy = self._connection.retry
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(
                    method, path, parse, operation, idempotent, attempt, params, json, content
                )
            except _Retry as retry:
                error = retry.error
                if attempt >= policy.max_attempts or (
                    error.retry_after is not None and error.retry_after > policy.max_retry_after
                ):
                    raise error from retry.__cause__
                delay = policy.delay(attempt, error.retry_after, rand=self._rand())
                logger.debug(
                    "SCM %s %s: %s; retry %d in %.2fs",
                    method, path, type(error).__name__, attempt + 1, delay,
                )  # fmt: skip
                await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        parse: Callable[[httpx.Response], T],
        operation: str,
        idempotent: bool,
        attempt: int,
        params: Mapping[str, str] | None,
        json: Any,
        content: bytes | None,
    ) -> T:
        started = time.perf_counter()
        headers = dict(_JSON_HEADERS)
        if json is not None or content is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        async with self._semaphore:
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, content=content, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached SCM: safe to retry any call.
                self._log(method, path, operation, None, started, attempt)
                raise _Retry(ScmTransportError(self._describe(exc))) from exc
            except httpx.HTTPError as exc:
                self._log(method, path, operation, None, started, attempt)
                if not idempotent:
                    raise ScmResponseLost(self._describe(exc), operation=operation) from exc
                raise _Retry(ScmTransportError(self._describe(exc))) from exc
        self._log(method, path, operation, response.status_code, started, attempt)
        if response.is_success:
            try:
                return parse(response)
            except ScmError:
                raise
            except (ValidationError, ValueError, TypeError) as exc:
                description = f"unreadable {response.status_code} answer ({type(exc).__name__})"
                if not idempotent:
                    raise ScmResponseLost(
                        description, operation=operation, http_status=response.status_code
                    ) from None
                raise _Retry(
                    ScmMalformedResponse(description, http_status=response.status_code)
                ) from None
        error = error_from_response(
            response.status_code,
            self.scrub(response.content.decode("utf-8", "replace")),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if isinstance(error, ScmRetryableError):
            if idempotent:
                raise _Retry(error)
            if error.code is None:
                # No SCM error body: a gateway, proxy or overloaded front answered, possibly
                # after passing the request on. SCM may have acted: never re-post.
                raise ScmResponseLost(
                    f"HTTP {response.status_code} without an SCM answer",
                    operation=operation,
                    http_status=response.status_code,
                    retry_after=error.retry_after,
                )
            # SCM itself refused with a code: raised as is, never re-posted here.
        raise error

    def _describe(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return f"{type(exc).__name__}: {self.scrub(text)}"

    @staticmethod
    def _log(
        method: str, path: str, operation: str, status: int | None, started: float, attempt: int
    ) -> None:
        elapsed = time.perf_counter() - started
        metrics.scm_request(operation, status, elapsed)
        if logger.isEnabledFor(logging.DEBUG):
            elapsed_ms = elapsed * 1000
            logger.debug(
                "SCM %s %s -> %s in %.1f ms (attempt %d)",
                method, path, status if status is not None else "no answer", elapsed_ms, attempt,
            )  # fmt: skip


class _Retry(Exception):  # internal control flow, never escapes _Transport.call
    def __init__(self, error: ScmError) -> None:
        super().__init__(str(error))
        self.error = error


# --- parsers ------------------------------------------------------------------------------------


def _json(adapter: TypeAdapter[T]) -> Callable[[httpx.Response], T]:
    def parse(response: httpx.Response) -> T:
        return adapter.validate_json(response.content)

    return parse


def _no_body(response: httpx.Response) -> None:
    return None


def _certificate(response: httpx.Response) -> bytes:
    if not response.content.strip():
        raise ScmPendingError("empty certificate answer", http_status=response.status_code)
    return response.content


def _total_count(response: httpx.Response) -> int | None:
    value = response.headers.get("X-Total-Count")
    return int(value) if value is not None and value.strip() else None


def _required_total(response: httpx.Response) -> int:
    total = _total_count(response)
    if total is None:
        raise ValueError("X-Total-Count header missing")
    return total


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


# --- the client ---------------------------------------------------------------------------------


class ScmClient:
    """One SCM connection: ``ssl`` and ``smime`` APIs over one pooled, rate-limited HTTP client."""

    def __init__(
        self,
        connection: ScmConnection,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        """``transport``, ``sleep`` and ``rand`` are for tests (mock transport, no real backoff)."""
        self.connection = connection
        self._transport = _Transport(connection, transport=transport, sleep=sleep, rand=rand)
        self.ssl = SslApi(self._transport)
        self.smime = SmimeApi(self._transport)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.aclose()

    def __repr__(self) -> str:
        return (
            f"ScmClient(base_url={self.connection.api_root!r}, "
            f"customer_uri={self.connection.customer_uri!r})"
        )

    async def check_credentials(self, kind: Literal["ssl", "smime"] = "ssl") -> None:
        """Cheap authenticated call (profiles); raises :class:`ScmAuthenticationError` and kin."""
        api: SslApi | SmimeApi = self.ssl if kind == "ssl" else self.smime
        await api.types()

    async def find_ssl_order_by_marker(
        self, common_name: str, marker: str
    ) -> SslCertificate | None:
        """See :meth:`SslApi.find_by_marker`."""
        return await self.ssl.find_by_marker(common_name, marker)

    async def find_smime_order_by_marker(self, email: str, marker: str) -> SmimeListItem | None:
        """See :meth:`SmimeApi.find_by_marker`."""
        return await self.smime.find_by_marker(email, marker)
