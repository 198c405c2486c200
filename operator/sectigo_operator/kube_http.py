"""The operator's Secret and custom-resource requests, made on the event loop over aiohttp.

``k8s.Kube`` sends its per-certificate requests (Secret reads and writes, status patches,
finalizers) through :class:`LoopApi` rather than the ``kubernetes`` client in a worker thread.
Measured against the local control plane (docs/benchmarks.md, 2026-12-05), a Secret create
cost the operator's process 0.93-1.06 ms of CPU through the client in a thread and 0.32-0.39 ms
here: the client's generic request path, the hand-over to a thread and back, and urllib3's
blocking TLS socket are each a part of it. aiohttp comes with Kopf, which makes its own API
requests the same way.

The connection settings are the ``kubernetes`` client's ``Configuration`` (in-cluster or
kubeconfig: server, CA, client certificate, proxy). Its bearer token is asked for in a worker
thread (its refresh may run a kubeconfig's exec plugin), kept for ``TOKEN_SECONDS``, and asked
for again at once when the API server answers 401.

Answers are decoded JSON; failures are the :mod:`kube_types` errors with the HTTP status and
reason and the verb, never the response body (it may echo a Secret).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import kubernetes

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
        self._token: tuple[float, str | None] | None = None

    async def close(self) -> None:
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
                    proxy=self.configuration.proxy or None,
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
                raise refused(status, reason, doing)
            decoded = json.loads(raw) if raw else {}
            return decoded if isinstance(decoded, dict) else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.connections)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def _bearer(self, fresh: bool) -> str | None:
        now = time.monotonic()
        if fresh or self._token is None or now - self._token[0] > TOKEN_SECONDS:
            settings = await asyncio.to_thread(self.configuration.auth_settings)
            bearer = settings.get("BearerToken")
            self._token = (now, str(bearer["value"]) if bearer and bearer["value"] else None)
        return self._token[1]


def _ssl_context(configuration: kubernetes.client.Configuration) -> ssl.SSLContext | bool:
    """The TLS settings of the client's configuration (``False``: not verified, as configured;
    ``True`` for a plain-HTTP server is never used)."""
    if not configuration.host.startswith("https"):
        return True
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context
