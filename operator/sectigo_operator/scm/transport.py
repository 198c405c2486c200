"""The SCM client's transport: TLS and client certificates, credentials at send time, the
semaphore and the one retry loop (:meth:`_Transport.call`), and the response parsers. The retry
rules are in :mod:`sectigo_operator.scm.client`'s docstring; credentials are never logged, never
put into exceptions and not in any repr.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
import shutil
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Final, Literal, TypeVar
from urllib.parse import quote, quote_plus, urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from .. import metrics
from .aiohttp_transport import AiohttpTransport
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

logger = logging.getLogger("sectigo_operator.scm.client")  # one logger for all SCM calls

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_JSON_HEADERS: Final = {"Accept": "application/json"}


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
            context.load_cert_chain(
                f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}", password=_no_passphrase
            )
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
        context.load_cert_chain(*paths, password=_no_passphrase)
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


def _spellings(secret: str) -> tuple[str, ...]:
    """The ways a secret can appear in a library's or a server's error text: as is, escaped
    as in a Python or bytes repr (h11 quotes a refused header value), JSON-escaped, and as a
    proxy's or server's error page may echo it: HTML-escaped (named or numeric references) or
    percent-encoded (``/`` kept or not, hex in either case). Longest first, so that a spelling
    containing another is replaced whole."""
    forms = {
        secret,
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
        html.escape(secret, quote=False).replace('"', "&#34;").replace("'", "&#39;"),
    }
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")):
        forms |= {encoded, _LOWER_HEX.sub(lambda m: m.group(0).lower(), encoded)}
    return tuple(sorted((f for f in forms if f), key=len, reverse=True))


_LOWER_HEX = re.compile(r"%[0-9A-F]{2}")
"""A percent-encoded byte: some servers write its hex digits in lower case."""


def _no_passphrase() -> bytes:
    """An encrypted client key: refused, never a passphrase prompt on the terminal."""
    raise ValueError("the client certificate's key is encrypted")


class _Transport:
    """HTTP plumbing: the pooled client, the semaphore, error mapping and the retry loop."""

    def __init__(
        self,
        connection: ScmConnection,
        *,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        rand: Callable[[], float],
        guard: Callable[[], None] | None = None,
    ) -> None:
        self._connection = connection
        self._guard = guard
        self._sleep = sleep
        self._rand = rand
        self._semaphore = asyncio.Semaphore(connection.max_concurrency)
        secret = connection.password.get_secret_value() if connection.password else None
        self._secrets = _spellings(secret) if secret else ()
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
        if transport is None:
            https = urlsplit(connection.base_url).scheme.lower() == "https"
            tls = _tls_context(connection) if https else None
            transport = AiohttpTransport(tls, limits)
        self._http = httpx.AsyncClient(
            base_url=connection.api_root,
            auth=_ScmAuth(connection),
            timeout=timeout,
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
            if not idempotent and self._guard is not None:
                self._guard()  # may raise: checked after the wait for a slot, before sending
            try:
                async with asyncio.timeout(self._connection.total_timeout):
                    response = await self._http.request(
                        method, path, params=params, json=json, content=content, headers=headers
                    )
            except TimeoutError:
                # The whole request outlasted total_timeout (an answer trickling in). With the
                # default bounds it was sent by then; either way an enrollment may have reached
                # SCM and is never posted again.
                self._log(method, path, operation, None, started, attempt)
                text = f"no complete answer within {self._connection.total_timeout:g} s"
                if not idempotent:
                    raise ScmResponseLost(text, operation=operation) from None
                raise _Retry(ScmTransportError(text)) from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Nothing reached SCM: safe to retry any call.
                self._log(method, path, operation, None, started, attempt)
                raise _Retry(ScmTransportError(self._describe(exc))) from None
            except httpx.HTTPError as exc:
                # No chained cause: a library's own text may quote a header (the password)
                # in a spelling the scrubbed description above does not show.
                self._log(method, path, operation, None, started, attempt)
                if not idempotent:
                    raise ScmResponseLost(self._describe(exc), operation=operation) from None
                raise _Retry(ScmTransportError(self._describe(exc))) from None
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
            scrub=self.scrub,
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
