"""The operator's Secret and custom-resource requests, made on the event loop over aiohttp.

``k8s.Kube`` sends its per-certificate requests (Secret reads and writes, status patches,
finalizers) through :class:`LoopApi` rather than the ``kubernetes`` client in a worker thread.
Measured against the local control plane (docs/benchmarks.md, 2026-12-05), a Secret create
cost the operator's process 0.93-1.06 ms of CPU through the client in a thread and 0.32-0.39 ms
here: the client's generic request path, the hand-over to a thread and back, and urllib3's
blocking TLS socket are each a part of it. aiohttp comes with Kopf, which makes its own API
requests the same way.

The connection settings are the ``kubernetes`` client's ``Configuration`` (in-cluster or
kubeconfig: server, CA file or data, client certificate, an HTTP proxy with its headers and
``no_proxy``). A SOCKS proxy is refused when the operator starts: aiohttp, which Kopf's own
requests use too, does not speak it. The TLS context is built once; a rotated CA or client
certificate takes a restart (the in-cluster CA of a ServiceAccount does not rotate while a pod
runs). The bearer token is asked for in a worker thread (its refresh may run a kubeconfig's exec
plugin), kept for ``TOKEN_SECONDS``, and asked for again when the API server answers 401, then
the request is sent once more: the loader's own refresh decides whether that token is a new one
(the in-cluster loader re-reads its file once a minute), so a second 401 is reported.

Answers are decoded JSON; failures are the :mod:`kube_types` errors with the HTTP status and
reason and the verb, never the response body (it may echo a Secret).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import aiohttp
import kubernetes
from kubernetes.client.rest import should_bypass_proxies

from .kube_types import KubeError, refused

TOKEN_SECONDS = 30.0
"""How long a bearer token from the client's configuration is used before it is asked for again
(the in-cluster loader itself re-reads the token file once a minute)."""
CONNECTIONS = 16
"""Connections to the API server at most (a request beyond waits for one): one per certificate
step at once by default (``OperatorSettings.step_concurrency``). Each TLS connection of asyncio
holds a 256 KiB read buffer, so the pool is not sized by the worker threads (32); with 8, the
waits for a connection cost more CPU than they saved (ECDSA burst, 2026-12-05: 10.3 against
8.7 ms per certificate)."""
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=90)
"""A request without an answer is a failure (the API server ends its own work after 60 s)."""


class NotFound(Exception):
    """404, for callers to which a missing object is an answer."""


class LoopApi:
    """Requests to the API server from the event loop, one pooled session (made on first use:
    a session belongs to the loop it was made in)."""

    def __init__(
        self, configuration: kubernetes.client.Configuration, connections: int = CONNECTIONS
    ) -> None:
        self.configuration = configuration
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = _ssl_context(configuration)
        self._proxy: str | None = _proxy(configuration)
        self._token: tuple[float, str | None] | None = None
        self._token_lock = asyncio.Lock()
        self._closed = False

    async def close(self) -> None:
        """Close the connections; a request after this fails as unanswered."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        doing: str,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """The decoded answer of one request; 404 raises :class:`NotFound`, any other refusal
        the ``KubeError`` of ``doing`` ("create secrets"), no answer ``KubeError(0, ...)``."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            token = await self._bearer(fresh=attempt == 2)
            if token:
                headers["Authorization"] = token
            try:
                async with self._open().request(
                    method,
                    self.configuration.host + path,
                    data=data,
                    headers=headers,
                    ssl=self._ssl,
                    server_hostname=self.configuration.tls_server_name or None,
                    proxy=self._proxy,
                    proxy_headers=self.configuration.proxy_headers if self._proxy else None,
                    timeout=TIMEOUT,
                ) as response:
                    raw = await response.read()
                    status, reason = response.status, response.reason or ""
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                raise KubeError(
                    0, f"no answer from the API server ({doing}: {type(exc).__name__})"
                ) from None
            if status == 401 and attempt == 1:
                continue  # the token expired meanwhile: ask for it again, once
            if status == 404:
                raise NotFound(doing)
            if status >= 300:
                raise refused(status, reason, doing, _status_of(raw) if status == 422 else None)
            try:
                decoded = json.loads(raw) if raw else {}
            except ValueError:  # not JSON (a proxy's page, say): never shown, it may echo data
                raise KubeError(status, f"undecodable answer ({doing})") from None
            return decoded if isinstance(decoded, dict) else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise aiohttp.ClientConnectionError("closed")  # reported as no answer
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.connections)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def _bearer(self, fresh: bool) -> str | None:
        """The token to send; asked for once however many requests need it at the same time
        (``fresh``: unless another request asked for it after this one's began)."""
        asked = time.monotonic()
        async with self._token_lock:
            cached = self._token
            if (
                cached is None
                or asked - cached[0] > TOKEN_SECONDS
                or (fresh and cached[0] <= asked)
            ):
                settings = await asyncio.to_thread(self.configuration.auth_settings)
                bearer = settings.get("BearerToken")
                value = str(bearer["value"]) if bearer and bearer["value"] else None
                self._token = (time.monotonic(), value)
            assert self._token is not None
            return self._token[1]


def _ssl_context(configuration: kubernetes.client.Configuration) -> ssl.SSLContext | bool:
    """The TLS settings of the client's configuration: its CA (file or data) and client
    certificate; with ``verify_ssl`` off the server is not verified but the client certificate
    is still presented (``True`` for a plain-HTTP server is never used)."""
    if urllib.parse.urlsplit(configuration.host).scheme.lower() != "https":
        return True
    context = ssl.create_default_context(
        cafile=configuration.ssl_ca_cert or None,
        cadata=configuration.ca_cert_data or None,  # PEM text or DER bytes, as urllib3 takes it
    )
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def _proxy(configuration: kubernetes.client.Configuration) -> str | None:
    """The HTTP proxy to the API server, unless ``no_proxy`` names the server."""
    proxy = configuration.proxy or None
    if proxy is None or should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
        return None
    if urllib.parse.urlsplit(proxy).scheme.lower().startswith("socks"):
        raise ValueError(
            "a SOCKS proxy to the API server is not supported (the operator's and Kopf's "
            "requests use aiohttp): use an HTTP proxy, or none"
        )
    return str(proxy)


def _status_of(raw: bytes) -> Any:
    """A refusal's body decoded (a Status), or None: read for its field paths only."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
