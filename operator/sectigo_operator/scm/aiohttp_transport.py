"""httpx's transport for the SCM client, over aiohttp: the client keeps httpx (its auth flow,
request building and the mock transports of the tests), the connections are aiohttp's.

Why: httpcore, httpx's own transport, checks every idle pooled connection before each request
and again as each answer ends (a ``poll`` and, in anyio, a ``getpeername`` system call per
connection): with the 16 connections of a burst that was half of the 2.2 ms of CPU that the two
SCM requests of a certificate cost (docs/benchmarks.md). aiohttp, which Kopf brings, learns of a
connection the server closed from the event loop and checks nothing per request.

``httpx-aiohttp`` does the same job but maps a dropped connection after sending
(``ServerDisconnectedError``) to ``httpx.ConnectTimeout``, which the SCM client must read as
"nothing was sent" and would then post an enrollment again: an order twice. Here only failures
before anything was sent are ``ConnectError``/``ConnectTimeout``/``PoolTimeout``; any later
failure is a read error, so a lost enrollment answer stays ``ScmResponseLost``.

Answers are read whole (SCM's answers are a certificate or a small JSON document).
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One pooled aiohttp session (made on first use, in the running loop) for one SCM client."""

    def __init__(self, ssl_context: ssl.SSLContext | None, limits: httpx.Limits) -> None:
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise httpx.ConnectError("the SCM client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes by Content-Encoding
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        pool, connect = timeouts.get("pool"), timeouts.get("connect")
        timeout = aiohttp.ClientTimeout(
            total=None,
            # aiohttp's "connect" covers the wait for a pooled connection and the connecting
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=timeouts.get("read"),
        )
        body = await request.aread()
        try:
            async with self._open().request(
                request.method,
                str(request.url),
                data=body or None,
                headers=request.headers.multi_items(),
                allow_redirects=False,
                compress=None,
                timeout=timeout,
            ) as response:
                content = await response.read()
                status, reason = response.status, response.reason
                headers = response.raw_headers
        except aiohttp.ConnectionTimeoutError as exc:  # no connection: nothing was sent
            raise httpx.ConnectTimeout(_text(exc), request=request) from None
        except aiohttp.ClientConnectorError as exc:  # refused, unreachable, TLS handshake
            raise httpx.ConnectError(_text(exc), request=request) from None
        except aiohttp.SocketTimeoutError as exc:
            raise httpx.ReadTimeout(_text(exc), request=request) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # it may have reached SCM
            raise httpx.ReadError(_text(exc), request=request) from None
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return httpx.Response(
            status, headers=list(headers), content=content, request=request, extensions=extensions
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


def _text(exc: BaseException) -> str:
    """The failure's kind and text (aiohttp's texts name the host and the OS error, never
    a header; the SCM client scrubs the credentials from it anyway)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
