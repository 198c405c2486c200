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

import asyncio
import re
import ssl
from typing import Any

import aiohttp
import httpx
import yarl

HEADER_LINE_LIMIT = 65536
"""The longest status line or header field of an answer (bytes). aiohttp's default, 8,190, is
less than h11's 16 KiB for a whole header block, which httpx's own transport took: a front end
of SCM that sets large cookies must not make every answer unreadable, and an enrollment answer
lost that way would leave the order to the recovery path."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One pooled aiohttp session (made on first use, in the running loop) for one SCM client."""

    def __init__(self, ssl_context: ssl.SSLContext | None, limits: httpx.Limits) -> None:
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        """The session, made in the running loop; one of another loop's or a closed transport's
        sends nothing (``ConnectError``: the client may try again, nothing reached SCM)."""
        if self._closed:
            raise httpx.ConnectError("the SCM client is closed")
        loop = asyncio.get_running_loop()
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
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies, if any
                max_line_size=HEADER_LINE_LIMIT,
                max_field_size=HEADER_LINE_LIMIT,
            )
            self._loop = loop
        elif self._loop is not loop:
            raise httpx.ConnectError("the SCM client belongs to another event loop")
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
        session = self._open()
        encoding = request.headers.encoding
        failure: httpx.TransportError | None = None
        answer: tuple[int, str | None, Any] = (0, None, ())
        content = b""
        try:
            async with session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),  # as httpx quoted it
                data=body or None,
                # the names as written (SCM's "customerUri"), not httpx's lower-cased keys
                headers=[(k.decode(encoding), v.decode(encoding)) for k, v in request.headers.raw],
                allow_redirects=False,
                compress=None,
                timeout=timeout,
            ) as response:
                answer = (response.status, response.reason, response.raw_headers)
                content = await response.read()
        except aiohttp.ConnectionTimeoutError as exc:  # no connection: nothing was sent
            failure = httpx.ConnectTimeout(_text(exc), request=request)
        except aiohttp.ClientConnectorError as exc:  # refused, unreachable, TLS handshake
            failure = httpx.ConnectError(_text(exc), request=request)
        except aiohttp.SocketTimeoutError as exc:
            failure = httpx.ReadTimeout(_text(exc), request=request)
        except aiohttp.ClientResponseError as exc:
            failure = _unreadable(exc, request)  # it reached SCM, or something in front of it
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            failure = httpx.ReadError(_text(exc), request=request)  # it may have reached SCM
        except asyncio.CancelledError:
            # Closing the session cancels its pending name lookups: a failure of this request,
            # unless this task itself is being cancelled.
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise
            failure = httpx.ReadError("the SCM client was closed", request=request)
        if failure is not None:
            # Raised outside the handler: aiohttp's exception is not kept as the context (the
            # repr of some of them shows the request's headers, the password among them).
            raise failure
        status, reason, headers = answer
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


_PARSER_WORDS = frozenset(
    "Bad Chunk Content-Length Data Duplicate Empty Expected Got Header Invalid Lone Missing "
    "Not Response Transfer-Encoding Unexpected Unknown".split()
)
"""The first words of the messages of aiohttp's parsers (C and pure Python): a message that
starts otherwise is the answer's own text, which the pure-Python parser passes on as its
message for a bad chunk-size line."""

_QUOTED = re.compile(r"""[:\s]*(?:\bb)?['"].*""")
"""A quote of the answer in a parser's message (``: b'...'`` from aiohttp's C parser, ``'...'``
from its pure-Python one) and everything after it."""


def _unreadable(exc: aiohttp.ClientResponseError, request: httpx.Request) -> httpx.TransportError:
    """An answer aiohttp could not parse, named so: its ``status`` (400) is aiohttp's own, not
    SCM's. Only the first line of the parser's message, without the answer's bytes it may quote
    (a header line too long is quoted in its first 100 bytes, which may be a session cookie; a
    bad status line is quoted whole); the lines after it quote the answer too. The subclasses
    (a proxy's refusal, too many redirects, ...) are named by their kind (``_text``)."""
    if type(exc) is not aiohttp.ClientResponseError:
        return httpx.ReadError(_text(exc), request=request)
    first = exc.message.splitlines()[0] if exc.message else ""
    reason = _QUOTED.sub("", first).strip().rstrip(":").strip()
    if reason.split(" ", 1)[0] not in _PARSER_WORDS:
        reason = ""  # not a parser's phrase: the answer's own bytes (a bad chunk-size line)
    return httpx.RemoteProtocolError(
        f"the answer could not be read{f': {reason}' if reason else ''}", request=request
    )


_TOLD = (aiohttp.ClientOSError, aiohttp.ServerTimeoutError, aiohttp.ServerFingerprintMismatch)
"""aiohttp's failures whose texts are their own, as are the OS's: the host, the port, the OS's
or TLS's reason, a timeout, a certificate fingerprint. Never the answer's bytes."""
_FIXED = {
    aiohttp.ServerDisconnectedError: "the connection closed before the answer was complete",
    aiohttp.ClientPayloadError: "the answer's body could not be read",
}
"""Failures whose texts may quote the answer, each said in words of our own instead: a
connection closed amid the headers shows every header received (a session cookie among them),
a body the pure-Python parser refused is quoted."""


def _text(exc: BaseException) -> str:
    """The failure's kind and, for the failures in ``_TOLD`` and plain OS errors, its text; a
    fixed text for those in ``_FIXED``; the kind alone for anything else. The SCM client
    scrubs the credentials from it anyway, but it cannot know a cookie."""
    kind = type(exc).__name__
    fixed = next((text for cls, text in _FIXED.items() if isinstance(exc, cls)), None)
    if fixed is not None:
        return f"{kind}: {fixed}"
    told = isinstance(exc, (*_TOLD, TimeoutError)) or (
        isinstance(exc, OSError) and not isinstance(exc, aiohttp.ClientError)
    )
    return f"{kind}: {exc}" if told and str(exc) else kind
