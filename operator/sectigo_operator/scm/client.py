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
import random
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Self

import httpx

from .catalogue import SmimeFilter, SslFilter
from .config import ScmConnection
from .models import (
    SmimeListItem,
    SslCertificate,
)
from .smime_api import SmimeApi
from .ssl_api import SslApi
from .transport import Sleep, _Transport

logger = logging.getLogger("sectigo_operator.scm.client")  # one logger for all SCM calls


__all__ = ["ScmClient", "SmimeApi", "SmimeFilter", "SslApi", "SslFilter"]

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
        guard: Callable[[], None] | None = None,
    ) -> None:
        """``transport``, ``sleep`` and ``rand`` are for tests (mock transport, no real backoff).
        ``guard`` is called right before each attempt of a POST (an order, a revocation), once
        a connection slot is taken: it raises to stop a request the caller may no longer make
        (a process that lost the leadership while it waited for a slot)."""
        self.connection = connection
        self._transport = _Transport(
            connection, transport=transport, sleep=sleep, rand=rand, guard=guard
        )
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
